"""All configuration, read once from `NEURONEST_*` environment variables."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from limits import RateLimitItem, parse
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    # Rate limits in the notation of the `limits` library: "AMOUNT/PERIOD" ("20/hour").
    login_address_limit: str = "50/15 minutes"
    register_address_limit: str = "20/hour"
    forgot_password_email_limit: str = "3/hour"
    forgot_password_address_limit: str = "20/hour"
    # Addresses or networks of reverse proxies whose X-Forwarded-For is believed; nobody else's.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    reset_token_ttl: int = Field(3600, gt=0)
    smtp_url: str | None = None
    mail_from: str = "NeuroNest <no-reply@localhost>"
    # Production refuses to start without SMTP unless mails may go to the server log.
    mail_to_log: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # json: one JSON object per line (time, level, logger, message, request_id, job fields).
    log_format: Literal["text", "json"] = "text"

    # /metrics (docs/operations.md) shows aggregates only: no user, path or model name is a
    # label. Off answers 404; with a token, scrapers send `Authorization: Bearer TOKEN`.
    metrics: bool = True
    metrics_token: str | None = None
    # The built web console served at `/` (scripts/console.sh); unset: console/dist of the source
    # tree. The container image sets it to where it keeps the build.
    console_dir: Path | None = None
    # The gauges read from the database and the queue are read at most this often per process.
    metrics_refresh_interval: float = Field(5.0, ge=0)
    # A worker serves its own /metrics (its jobs, model calls, stored log lines) on this port.
    worker_metrics_port: int | None = Field(None, gt=0, lt=65536)
    worker_metrics_host: str = "127.0.0.1"

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
    # Verified sessions kept in each API process (docs/sessions.md); size 0 turns it off. The TTL
    # bounds what no event announces: a users row edited by hand.
    session_cache_size: int = Field(4096, ge=0)
    session_cache_ttl: float = Field(5.0, gt=0)

    max_file_bytes: int = Field(1024 * 1024, gt=0)
    max_project_bytes: int = Field(16 * 1024 * 1024, gt=0)
    max_project_files: int = Field(1000, gt=0)

    # Inputs (docs/inputs.md). A request body holds a file's base64 (4/3 of MAX_FILE_BYTES).
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    max_ws_message_bytes: int = Field(4 * 1024 * 1024, gt=0)
    max_json_depth: int = Field(32, gt=0)
    max_input_bytes: int = Field(1024 * 1024, gt=0)
    max_object_bytes: int = Field(64 * 1024, gt=0)
    max_rendered_input_bytes: int = Field(1024 * 1024, gt=0)
    # Room for the largest formatting output (8,000,000 characters of mostly ASCII).
    max_result_bytes: int = Field(8 * 1024 * 1024, gt=0)

    # Per-user quotas, enforced under a lock on the owning row.
    max_projects_per_user: int = Field(100, gt=0)
    max_runtimes_per_user: int = Field(50, gt=0)
    max_tasks_in_flight: int = Field(50, gt=0)
    max_memories_per_user: int = Field(100, gt=0)
    max_memory_entries: int = Field(10000, gt=0)

    runtime_backend: Literal["auto", "docker", "sandbox"] = "auto"
    docker_network: Literal["bridge", "host", "none"] = "host"
    docker_url: str | None = None
    # `runsc` runs containers under gVisor. The daemon must know a runtime of that name for each
    # network mode in use (runsc needs its `--network` flag to match the container's network).
    docker_runtime: Literal["runc", "runsc"] = "runc"
    docker_runsc_runtimes: dict[Literal["bridge", "host", "none"], str] = {
        "bridge": "runsc",
        "host": "runsc-host",
        "none": "runsc",
    }
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
    # none: loopback only (a served PORT is still published); outbound: internet through
    # slirp4netns, the host's loopback, its addresses and private ranges refused.
    sandbox_network: Literal["none", "outbound"] = "none"
    instance: str | None = None
    runtime_memory_bytes: int = Field(512 * 1024 * 1024, gt=0)
    runtime_cpus: float = Field(1.0, gt=0)
    runtime_pids: int = Field(256, gt=0)
    runtime_max_timeout: int = Field(86400, gt=0)
    runtime_heartbeat: float = Field(2.0, gt=0)
    runtime_stale_after: float = Field(10.0, gt=0)
    reconcile_interval: float = Field(3.0, gt=0)
    worker_poll_delay: float = Field(0.5, gt=0)  # fallback: enqueues wake workers at once
    task_heartbeat: float = Field(2.0, gt=0)
    task_stale_after: float = Field(10.0, gt=0)
    task_max_attempts: int = Field(3, gt=0)

    # CPU-bound work on user data (formatting, ranking) runs in a pool of worker processes.
    offload_workers: int = Field(2, gt=0)
    offload_memory_bytes: int = Field(512 * 1024 * 1024, gt=64 * 1024 * 1024)
    format_max_chars: int = Field(1_000_000, gt=0)
    format_max_output_chars: int = Field(8_000_000, gt=0)
    format_timeout: float = Field(30.0, gt=0)
    search_max_candidates: int = Field(2000, gt=0)
    search_max_bytes: int = Field(2 * 1024 * 1024, gt=0)
    search_timeout: float = Field(10.0, gt=0)

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

    @field_validator(
        "login_address_limit",
        "register_address_limit",
        "forgot_password_email_limit",
        "forgot_password_address_limit",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        rate_limit(value)
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        """A JSON list or a comma-separated string; each entry an address or a network."""
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else value.split(",")
        if isinstance(value, list):
            value = [str(entry).strip() for entry in value if str(entry).strip()]
            for entry in value:
                ipaddress.ip_network(entry, strict=False)
        return value

    def check_startable(self) -> None:
        """Refuses a production configuration that would lose or leak mails."""
        if self.env == "production" and not self.smtp_url and not self.mail_to_log:
            raise ValueError(
                "NEURONEST_SMTP_URL must be set in production (password reset mails go out by "
                "SMTP); set NEURONEST_MAIL_TO_LOG=true to write mails to the server log instead"
            )

    @property
    def body_json_depth(self) -> int:
        """A body may nest its free-form fields (each at most MAX_JSON_DEPTH) a few levels deep."""
        return self.max_json_depth + 4

    @model_validator(mode="after")
    def _body_holds_a_file(self) -> Settings:
        # A file arrives as base64 in a JSON body: 4/3 of its size, plus the envelope.
        needed = self.max_file_bytes * 4 // 3 + 4096
        if self.max_body_bytes < needed:
            raise ValueError(
                f"NEURONEST_MAX_BODY_BYTES must be at least {needed} to carry a file of "
                f"NEURONEST_MAX_FILE_BYTES={self.max_file_bytes} as base64"
            )
        return self

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
        path = self.ensure_data_dir() / "secret_key"
        if not path.exists():
            # Written whole under a private name, then linked: never readable by others, and a
            # second process starting at the same moment reads one complete key.
            draft = path.with_name(f".secret_key.{os.getpid()}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(48))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        path.chmod(0o600)
        return path.read_text().strip()

    def ensure_data_dir(self) -> Path:
        """The data dir, private to the server's user (0700, also when it already existed)."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        return self.data_dir


@lru_cache
def rate_limit(notation: str) -> RateLimitItem:
    try:
        return parse(notation)
    except ValueError:
        raise ValueError(f"{notation!r} is not a rate limit such as '20/hour'") from None


@lru_cache
def get_settings() -> Settings:
    return Settings()
