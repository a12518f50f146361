"""/metrics as Prometheus reads it, on a real server of each deployment."""

from __future__ import annotations

import httpx

from tests.conftest import gql, register
from tests.harness import Stack
from tests.llm import fake_llm as turns
from tests.llm.fake_llm import FakeLLM
from tests.observability.helpers import (
    eventually,
    job_metrics_url,
    label_sets,
    scrape,
    total,
)
from tests.orchestration.helpers import run_task
from tests.runtimes.helpers import make_runtime, start, wait_status
from tests.ws import Subscriber, bearer

REQUESTS = "neuronest_http_requests_total"
# Methods the HTTP parser passes on (it refuses made-up ones itself) that no route takes.
WEBDAV = ["PROPFIND", "MKCOL", "LOCK", "UNLOCK", "COPY", "MOVE", "TRACE", "PROPPATCH"]


async def test_counters_move_with_a_task_a_runtime_and_a_failed_login(
    observed: Stack, observed_api: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    api, jobs_url = observed_api, job_metrics_url(observed)
    before, jobs_before = await scrape(observed.url), await scrape(jobs_url)
    account = await register(api)

    refused = await api.post(
        "/api/auth/login", json={"email": account.email, "password": "wrong-password"}
    )
    assert refused.status_code == 401
    fake_llm.script(turns.text("a short answer"))
    task = await run_task(api, account, task_type="text_generation", input_data={"prompt": "hi"})
    assert task["status"] == "completed", task
    runtime = await make_runtime(api, account, "print('hello from the runtime')")
    await start(api, account, runtime["id"])
    final = await wait_status(api, account, runtime["id"], {"completed", "failed"}, timeout=120)
    assert final["status"] == "completed", final
    listed = await gql(api, "{ me { email } }", token=account.token)
    assert listed["data"]["me"]["email"] == account.email

    def grew(name: str, old: float, new: float, by: float = 1) -> list[str]:
        return [] if new - old >= by else [f"{name}: {old} -> {new}"]

    async def api_moved() -> list[str]:
        after = await scrape(observed.url)

        def moved(name: str, by: float = 1, **labels: str) -> list[str]:
            old, new = total(before, name, **labels), total(after, name, **labels)
            return grew(f"{name}{labels}", old, new, by)

        return [
            *moved("neuronest_login_failures_total", reason="bad_credentials"),
            *moved(REQUESTS, method="POST", route="/api/auth/login", status="401"),
            *moved(REQUESTS, method="POST", route="/api/orchestration/tasks", status="201"),
            *moved(REQUESTS, route="/api/runtimes/{runtime_id}/start", status="200"),
            *moved(REQUESTS, route="/graphql", operation="query", status="200"),
            *moved("neuronest_http_request_duration_seconds_count", route="/api/runtimes"),
            *moved("neuronest_jobs_enqueued_total", kind="run_task"),
            *moved("neuronest_jobs_enqueued_total", kind="start_runtime_run"),
            # A gauge over the whole installation, read from the database at the scrape.
            *moved("neuronest_runtimes", status="completed", backend=observed.backend),
        ]

    async def jobs_moved() -> list[str]:
        after = await scrape(jobs_url)

        def moved(name: str, by: float = 1, **labels: str) -> list[str]:
            old, new = total(jobs_before, name, **labels), total(after, name, **labels)
            return grew(f"{name}{labels}", old, new, by)

        return [
            *moved("neuronest_jobs_finished_total", kind="run_task", outcome="completed"),
            *moved("neuronest_jobs_finished_total", kind="start_runtime_run", outcome="completed"),
            *moved("neuronest_job_duration_seconds_count", kind="run_task"),
            *moved("neuronest_llm_calls_total", provider="compatible", outcome="ok"),
            *moved("neuronest_llm_tokens_total", provider="compatible", direction="output"),
            *moved("neuronest_runtime_log_lines_stored_total", type="stdout"),
        ]

    await eventually(api_moved)
    await eventually(jobs_moved)
    after = await scrape(jobs_url)
    assert total(after, "neuronest_jobs_running", kind="run_task") == 0
    # Nothing about who: no label names a user, an email or a raw path.
    text = (await api.get("/metrics")).text
    assert account.email not in text and account.user["id"] not in text
    assert runtime["id"] not in text


async def test_a_hostile_scrape_of_many_paths_adds_no_series(
    observed: Stack, observed_api: httpx.AsyncClient
) -> None:
    api = observed_api
    for i in range(3):  # every kind of request below has been counted once
        await api.get(f"/api/warmup{i}")
        await api.get(f"/api/projects/{i}", headers={"Authorization": "Bearer nope"})
        await api.request("PROPFIND", "/api/projects")
    before = await scrape(observed.url)
    for i in range(200):
        assert (await api.get(f"/api/x{i}")).status_code == 404
        await api.get(f"/api/projects/p{i}", headers={"Authorization": "Bearer nope"})
        await api.request(WEBDAV[i % len(WEBDAV)], "/api/projects")
    after = await scrape(observed.url)
    for name in (REQUESTS, "neuronest_http_request_duration_seconds_bucket"):
        assert label_sets(after, name) == label_sets(before, name)
    routes = {dict(pairs)["route"] for pairs in label_sets(after, REQUESTS)}
    assert "unmatched" in routes and "/api/projects/{project_id}" in routes
    assert not [route for route in routes if "/api/x" in route or "/p1" in route]
    methods = {dict(pairs)["method"] for pairs in label_sets(after, REQUESTS)}
    assert "OTHER" in methods and not methods & set(WEBDAV)
    assert total(after, REQUESTS, route="unmatched") - total(before, REQUESTS, route="unmatched")


async def test_open_websockets_are_counted(
    observed: Stack, observed_api: httpx.AsyncClient
) -> None:
    account = await register(observed_api)
    gauge = "neuronest_websocket_connections"
    before = total(await scrape(observed.url), gauge)
    client = Subscriber(observed.ws_url)
    assert (await client.connect(bearer(account.token)))["type"] == "connection_ack"
    try:
        assert total(await scrape(observed.url), gauge) == before + 1
    finally:
        await client.close()

    async def closed() -> list[str]:
        now = total(await scrape(observed.url), gauge)
        return [] if now == before else [f"{gauge} is {now}, was {before}"]

    await eventually(closed)


async def test_requests_carry_a_request_id(observed_api: httpx.AsyncClient) -> None:
    own = await observed_api.get("/healthz", headers={"X-Request-ID": "lb-7f3a.2"})
    assert own.headers["x-request-id"] == "lb-7f3a.2"
    for hostile in ("x" * 200, "a b", "<script>", ""):
        response = await observed_api.get("/healthz", headers={"X-Request-ID": hostile})
        assert response.headers["x-request-id"] != hostile
        assert len(response.headers["x-request-id"]) == 32
    first = await observed_api.get("/healthz")
    second = await observed_api.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
