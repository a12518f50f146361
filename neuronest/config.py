"""All configuration, read once from `NEURONEST_*` environment variables."""

from __future__ import annotations

import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

WEAK_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEURONEST_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".data")
    database_url: str | None = None
    redis_url: str | None = None
    database_pool_size: int = Field(20, gt=0)
    secret_key: str | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"

    access_token_ttl: int = Field(86400, gt=0)
    bcrypt_rounds: int = Field(12, ge=4, le=16)
    login_max_failures: int = Field(5, gt=0)
    login_failure_window: int = Field(900, gt=0)
    reset_token_ttl: int = Field(3600, gt=0)
    smtp_url: str | None = None
    mail_from: str = "NeuroNest <no-reply@localhost>"

    graphql_max_depth: int = Field(12, gt=0)
    # Each GraphQL document (one HTTP request or one websocket operation) is measured before
    # anything runs; see docs/wsbudget.md.
    graphql_max_cost: int = Field(50_000, gt=0)
    graphql_max_root_fields: int = Field(50, gt=0)
    graphql_max_aliases: int = Field(100, ge=0)
    graphql_max_field_repeats: int = Field(10, gt=0)
    graphql_max_tokens: int = Field(3_000, gt=0)
    # An open websocket re-reads its session this often (besides every operation and every
    # revocation event), so changes made directly in the database reach it too.
    ws_session_recheck_interval: float = Field(60.0, gt=0)

    max_file_bytes: int = Field(1024 * 1024, gt=0)
    max_project_bytes: int = Field(16 * 1024 * 1024, gt=0)

    runtime_backend: Literal["auto", "docker", "sandbox"] = "auto"
    docker_network: Literal["bridge", "host", "none"] = "host"
    docker_url: str | None = None
    runtime_images: dict[str, str] = {
        "python": "neuronest/runtime-python:latest",
        "node": "neuronest/runtime-node:latest",
        "bash": "neuronest/runtime-bash:latest",
    }

    runtime_commands: dict[str, list[str]] = {
        "python": ["python3", "-u", "{entry_point}"],
        "node": ["node", "{entry_point}"],
        "bash": ["bash", "{entry_point}"],
    }
    runtime_url_host: str = "127.0.0.1"
    sandbox_dir: Path | None = None
    instance: str | None = None
    runtime_memory_bytes: int = Field(512 * 1024 * 1024, gt=0)
    runtime_cpus: float = Field(1.0, gt=0)
    runtime_pids: int = Field(256, gt=0)
    runtime_max_timeout: int = Field(86400, gt=0)
    runtime_heartbeat: float = Field(2.0, gt=0)
    runtime_stale_after: float = Field(10.0, gt=0)
    reconcile_interval: float = Field(3.0, gt=0)
    worker_poll_delay: float = Field(0.02, gt=0)
    task_heartbeat: float = Field(2.0, gt=0)
    task_stale_after: float = Field(10.0, gt=0)
    task_max_attempts: int = Field(3, gt=0)

    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_default_model: str = "gpt-4o-mini"
    llm_max_retries: int = Field(3, ge=0)
    llm_timeout: float = Field(120.0, gt=0)
    llm_max_tool_rounds: int = Field(8, gt=0)
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite://{(self.data_dir / 'neuronest.sqlite3').resolve()}"

    @property
    def resolved_sandbox_dir(self) -> Path:
        """Sandboxes run as an unprivileged user, who must be able to reach this directory."""
        if self.sandbox_dir is not None:
            return self.sandbox_dir
        if os.geteuid() == 0:
            return Path("/var/lib/neuronest/sandboxes")
        return (self.data_dir / "sandboxes").resolve()

    @property
    def resolved_instance(self) -> str:
        """Names this installation on a shared Docker host: one database, one installation."""
        if self.instance:
            return self.instance
        return hashlib.sha256(self.resolved_database_url.encode()).hexdigest()[:12]

    @property
    def is_embedded(self) -> bool:
        return self.redis_url is None

    def resolved_secret_key(self) -> str:
        """The signing key; generated once into the data dir when none is configured."""
        if self.secret_key:
            if self.env == "production" and len(self.secret_key) < WEAK_SECRET_LENGTH:
                raise ValueError(
                    f"NEURONEST_SECRET_KEY must be at least {WEAK_SECRET_LENGTH} characters "
                    "in production"
                )
            return self.secret_key
        if self.env == "production":
            raise ValueError("NEURONEST_SECRET_KEY must be set in production")
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
