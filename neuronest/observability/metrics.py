"""Every Prometheus metric of NeuroNest (docs/operations.md lists them for dashboards).

Each process counts what it does itself (requests, jobs, LLM calls, stored log lines); the few
gauges about the whole installation (runtimes, queued jobs) are computed when `/metrics` is
scraped (observability/scrape.py). Labels take a handful of values each, never user data: routes
are templates, models are reduced to a family, statuses and kinds come from the code."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "neuronest_http_requests",
    "HTTP requests answered, by method, route template, status and GraphQL operation type",
    ["method", "route", "status", "operation"],
)
HTTP_DURATION = Histogram(
    "neuronest_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response",
    ["method", "route", "operation"],
)
WEBSOCKETS_OPEN = Gauge(
    "neuronest_websocket_connections", "Websocket connections accepted and not yet closed"
)

JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 7200.0, float("inf"))
JOBS_ENQUEUED = Counter(
    "neuronest_jobs_enqueued", "Jobs put on the queue (one already queued is not counted)", ["kind"]
)
JOBS_STARTED = Counter("neuronest_jobs_started", "Jobs this process started", ["kind"])
JOBS_FINISHED = Counter(
    "neuronest_jobs_finished",
    "Jobs this process ran to an end: completed, failed or cancelled",
    ["kind", "outcome"],
)
JOBS_RUNNING = Gauge("neuronest_jobs_running", "Jobs running in this process", ["kind"])
JOB_DURATION = Histogram(
    "neuronest_job_duration_seconds", "How long jobs ran", ["kind", "outcome"], buckets=JOB_BUCKETS
)
JOBS_QUEUED = Gauge(
    "neuronest_jobs_queued", "Jobs waiting to start (deferred ones included), at scrape", ["kind"]
)
QUEUE_ENTRIES = Gauge(
    "neuronest_jobs_queue_entries", "Entries of the Redis job queue (waiting and running)"
)

RUNTIMES = Gauge(
    "neuronest_runtimes", "Runtimes in the database by status and backend, at scrape",
    ["status", "backend"],
)  # fmt: skip
LOG_LINES_STORED = Counter(
    "neuronest_runtime_log_lines_stored", "Runtime log lines written to the database", ["type"]
)

LLM_CALLS = Counter(
    "neuronest_llm_calls",
    "Model calls (a tool loop is one call)",
    ["provider", "family", "outcome"],
)
LLM_TOKENS = Counter(
    "neuronest_llm_tokens", "Tokens of model calls", ["provider", "family", "direction"]
)
LLM_DURATION = Histogram(
    "neuronest_llm_call_duration_seconds",
    "How long model calls took",
    ["provider"],
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, float("inf")),
)

LOGIN_FAILURES = Counter(
    "neuronest_login_failures",
    "Refused logins: bad_credentials, inactive (right password) or rate_limited",
    ["reason"],
)

# Model names are free text; their family is one of these (by prefix) or "other".
MODEL_FAMILIES = (
    "gpt", "o1", "o3", "o4", "claude", "llama", "mistral", "mixtral", "codestral", "qwen",
    "gemma", "gemini", "phi", "deepseek", "command",
)  # fmt: skip


def model_family(name: str) -> str:
    base = name.rsplit("/", 1)[-1].lower()
    for family in MODEL_FAMILIES:
        if base.startswith(family):
            return family
    return "other"


def record_llm_call(
    provider: str, model: str, outcome: str, seconds: float, usage: Mapping[str, int] | None
) -> None:
    family = model_family(model)
    LLM_CALLS.labels(provider, family, outcome).inc()
    LLM_DURATION.labels(provider).observe(seconds)
    if usage:
        LLM_TOKENS.labels(provider, family, "input").inc(usage.get("input_tokens", 0))
        LLM_TOKENS.labels(provider, family, "output").inc(usage.get("output_tokens", 0))
