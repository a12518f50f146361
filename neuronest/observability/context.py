"""The request id and the job of the code running now, for log lines and for enqueued jobs.

The API's middleware sets the request id of each HTTP request and websocket; a job enqueued
meanwhile carries it to the worker, which sets it (and the job's fields) while the job runs, so
every log line of one request, and of the jobs it caused, names the same id."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

# Short and harmless in a log line or a header; anything else is replaced by an id of our own.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class JobFields:
    kind: str
    id: str | None
    attempt: int


request_id: ContextVar[str | None] = ContextVar("neuronest_request_id", default=None)
current_job: ContextVar[JobFields | None] = ContextVar("neuronest_job", default=None)


def accept_request_id(incoming: str | None) -> str:
    """The client's `X-Request-ID` when it is short and safe, else a new id."""
    if incoming and _SAFE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex
