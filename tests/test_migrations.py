from __future__ import annotations

from pathlib import Path

from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from neuronest.config import Settings
from neuronest.db import tortoise_config


async def test_models_and_migrations_agree(tmp_path: Path) -> None:
    config = tortoise_config(Settings(data_dir=tmp_path))
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        assert ctx.apps is not None
        detector = MigrationAutodetector(ctx.apps, config["apps"])
        pending = await detector.changes()
    assert not pending, "models changed without a migration: run `make migrations`"
