"""Database setup: one Tortoise app whose migrations live in the top-level `migrations/`."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api.migrate import migrate as tortoise_migrate
from tortoise.models import Model
from tortoise.queryset import UpdateQuery
from tortoise.transactions import in_transaction

from neuronest.config import Settings, get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M", bound=Model)
APP_LABEL = "models"
MODEL_MODULES = [
    "neuronest.auth.models",
    "neuronest.projects.models",
    "neuronest.runtimes.models",
    "neuronest.memory.models",
    "neuronest.orchestration.agents.models",
    "neuronest.orchestration.tasks.models",
    "neuronest.orchestration.workflows.models",
]


async def _keep_session(connection: object) -> None:
    """asyncpg resets each connection's session state when the pool takes it back, one extra
    round trip per query. Nothing here sets session state (no SET, LISTEN or advisory locks);
    open transactions are still rolled back by the pool."""


def _connection(settings: Settings) -> str | dict[str, Any]:
    url = settings.resolved_database_url
    if url.startswith("sqlite://"):
        settings.ensure_data_dir()
        _private_sqlite(url.removeprefix("sqlite://").split("?", 1)[0])
        return url
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    config = expand_db_url(url)
    config["credentials"].setdefault("maxsize", settings.database_pool_size)
    config["credentials"]["reset"] = _keep_session
    return config


def _private_sqlite(path: str) -> None:
    """The database file is created 0600 before SQLite opens it; SQLite gives its -wal and -shm
    files the mode of the database file."""
    if not path or path == ":memory:":
        return
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        if os.path.exists(name):
            os.chmod(name, 0o600)


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(settings)},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


class _ProcessDatabase:
    """Tortoise's connections belong to the process, not to one app: two apps (or an app and a
    CLI command) of one process share them. The first to open them opens them, the last to close
    them closes them; re-initialising or closing them under an app that still runs would cut off
    its queries in flight."""

    def __init__(self) -> None:
        self.users = 0


_PROCESS_DATABASE = _ProcessDatabase()


async def migrate(settings: Settings) -> None:
    """Apply every migration; safe to run on an up-to-date database. While the process has the
    database open, whoever opened it has migrated it already, and nothing is done."""
    if _PROCESS_DATABASE.users:
        return
    await tortoise_migrate(config=tortoise_config(settings))
    await Tortoise.close_connections()


async def open_db(settings: Settings) -> None:
    if not _PROCESS_DATABASE.users:
        await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)
    _PROCESS_DATABASE.users += 1


async def close_db() -> None:
    _PROCESS_DATABASE.users = max(_PROCESS_DATABASE.users - 1, 0)
    if not _PROCESS_DATABASE.users:
        await Tortoise.close_connections()


async def ping_db() -> None:
    await connections.get("default").execute_query("SELECT 1")


async def to_the_end(work: Awaitable[T]) -> T:
    """Awaits a database write that must not be cut off in the middle. Tortoise leaves a
    transaction cancelled on its way in (during BEGIN) without its exit: on SQLite the one
    connection's lock is never released and every later query waits forever; on PostgreSQL the
    pooled connection is never given back. So a cancel that arrives meanwhile waits for the write
    to end (committed, or rolled back and released) and is raised after it."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():  # the write itself was cancelled (the loop is shutting down)
                break
            cancelled = True
    if cancelled:
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "a database write ended with an error during a cancel: %r", task.exception()
            )
        raise asyncio.CancelledError
    return task.result()


async def atomically(work: Callable[[BaseDBAsyncClient], Awaitable[T]]) -> T:
    """Runs `work(connection)` in one transaction that a cancel cannot interrupt."""

    async def run() -> T:
        async with in_transaction() as connection:
            return await work(connection)

    return await to_the_end(run())


async def changed_rows(model: type[M], update: UpdateQuery) -> list[M]:
    """Runs `update` (`Model.filter(...).update(...)`) and returns the rows it changed as they
    now are, read by the same statement (`UPDATE ... RETURNING *`: PostgreSQL, SQLite >= 3.35),
    so a compare-and-set and the read of its outcome are one round trip."""
    return [model._init_from_db(**row) for row in await _returning(update, "*")]


INSERT_VALUES = 30_000  # values per INSERT: within both databases' limits on parameters


async def insert_all(model: type[M], objects: Sequence[M]) -> None:
    """`Model.bulk_create` in one statement, `INSERT ... VALUES (...), (...)` (as many as the
    databases' limits on parameters allow): bulk_create runs one statement per row
    (executemany). Values go through each field's `to_db_value`, as bulk_create's do; the
    objects' primary keys are made here (not by the database) or left unread."""
    if not objects:
        return
    db = model._meta.db
    executor = db.executor_class(model=model, db=db)
    names = (
        executor.regular_columns_all
        if objects[0]._custom_generated_pk
        else executor.regular_columns
    )
    fields, column = model._meta.fields_map, model._meta.fields_db_projection
    postgres = db.capabilities.dialect == "postgres"
    columns = ", ".join(f'"{column[name]}"' for name in names)
    per_statement = max(1, INSERT_VALUES // len(names))
    for start in range(0, len(objects), per_statement):
        chunk = objects[start : start + per_statement]
        marks = (f"${n}" if postgres else "?" for n in itertools.count(1))
        rows = ", ".join("(" + ", ".join(next(marks) for _ in names) + ")" for _ in chunk)
        values = [fields[name].to_db_value(getattr(o, name), o) for o in chunk for name in names]
        await db.execute_query(
            f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES {rows}', values
        )


async def returned_ids(update: UpdateQuery) -> set[str]:
    """Runs `update` and returns the ids of the rows it changed (`RETURNING "id"`), for a
    caller that knows what it changed and needs no row read back."""
    return {str(row["id"]) for row in await _returning(update, "id")}


async def _returning(update: UpdateQuery, columns: str) -> list[dict[str, Any]]:
    """The rows `update` changed, `columns` of each as they now are (`RETURNING`)."""
    update._choose_db_if_not_chosen(True)
    update._make_query()
    sql, values = update.query.returning(columns).get_parameterized_sql()  # type: ignore[operator]
    return list(await update._db.execute_query_dict(sql, values))


class PreparedUpdate(Generic[M]):
    """`UPDATE <table> SET <changes> WHERE <column = value AND ...>` for one model, written once
    per SQL dialect for the statements of a hot path: building a query through the ORM costs
    more CPU than the round trip that runs it. Values go through each field's `to_db_value`, as
    the ORM's own update does; a WHERE value must not be None."""

    def __init__(self, model: type[M], changes: Sequence[str], where: Sequence[str]) -> None:
        self.model = model
        self.changes = tuple(changes)
        self.where = tuple(where)
        self._sql: dict[tuple[str, bool], str] = {}

    async def rows(self, where: dict[str, Any], **changes: Any) -> list[M]:
        """The rows changed, as they now are (`RETURNING *`: PostgreSQL, SQLite >= 3.35)."""
        db = self.model._meta.db
        sql = self._statement(db.capabilities.dialect, returning=True)
        rows = await db.execute_query_dict(sql, self._values(where, changes))
        return [self.model._init_from_db(**row) for row in rows]

    async def count(self, where: dict[str, Any], **changes: Any) -> int:
        """How many rows changed."""
        db = self.model._meta.db
        sql = self._statement(db.capabilities.dialect, returning=False)
        changed, _ = await db.execute_query(sql, self._values(where, changes))
        return int(changed)

    def _values(self, where: dict[str, Any], changes: dict[str, Any]) -> list[Any]:
        fields = self.model._meta.fields_map
        values = [fields[name].to_db_value(changes[name], self.model) for name in self.changes]
        return values + [fields[name].to_db_value(where[name], self.model) for name in self.where]

    def _statement(self, dialect: str, returning: bool) -> str:
        sql = self._sql.get((dialect, returning))
        if sql is None:
            column = self.model._meta.fields_db_projection
            marks = (f"${n}" if dialect == "postgres" else "?" for n in itertools.count(1))
            changes = ", ".join(f'"{column[name]}" = {next(marks)}' for name in self.changes)
            where = " AND ".join(f'"{column[name]}" = {next(marks)}' for name in self.where)
            sql = f'UPDATE "{self.model._meta.db_table}" SET {changes} WHERE {where}'
            if returning:
                sql += " RETURNING *"
            self._sql[(dialect, returning)] = sql
        return sql


def __getattr__(name: str) -> Any:
    # `tortoise -c neuronest.db.TORTOISE_ORM makemigrations` reads the config from here.
    if name == "TORTOISE_ORM":
        return tortoise_config(get_settings())
    raise AttributeError(name)
