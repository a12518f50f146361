"""Log output: the classic text lines, or one JSON object per line (NEURONEST_LOG_FORMAT=json).

Both carry the request id (and the job) of the code that logged, when there is one."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from neuronest.config import Settings
from neuronest.observability.context import current_job, request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s %(message)s"


class ContextFilter(logging.Filter):
    """Stamps each record with the request id and job of the code that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        rid = fields.setdefault("request_id", request_id.get())
        job = current_job.get()
        if job is not None and "job_kind" not in fields:
            fields.update(job_kind=job.kind, job_id=job.id, job_attempt=job.attempt)
        parts = [f"request_id={rid}"] if rid else []
        if fields.get("job_kind"):
            parts.append(f"job={fields['job_kind']}:{fields.get('job_id')}")
        fields["context"] = f" [{' '.join(parts)}]" if parts else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, job fields."""

    JOB_FIELDS = ("job_kind", "job_id", "job_attempt", "job_count")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in self.JOB_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """The root logger's one handler (stderr) in the configured format, for every process."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
