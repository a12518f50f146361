"""JSON logs: one request's id on the API's line that queued a job and the job's own lines."""

from __future__ import annotations

import io
import json
import logging
import uuid

import httpx

from neuronest.config import Settings
from neuronest.observability.context import JobFields, current_job, request_id
from neuronest.observability.logs import configure_logging
from tests.conftest import register
from tests.harness import Stack
from tests.llm import fake_llm as turns
from tests.llm.fake_llm import FakeLLM
from tests.observability.helpers import eventually, json_lines
from tests.orchestration.helpers import wait_task

FIELDS = {"time", "level", "logger", "message", "request_id"}


async def test_a_jobs_log_lines_carry_the_request_id_that_queued_it(
    observed: Stack, observed_api: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    account = await register(observed_api)
    fake_llm.script(turns.text("logged"))
    rid = f"trace-{uuid.uuid4().hex[:12]}"
    response = await observed_api.post(
        "/api/orchestration/tasks",
        json={"task_type": "text_generation", "input_data": {"prompt": "hi"}},
        headers={**account.headers, "X-Request-ID": rid},
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == rid
    task = await wait_task(observed_api, account, response.json()["id"])
    assert task["status"] == "completed", task
    # With a separate worker, its lines are in a log of its own; embedded, the API runs the job.
    api_log = observed.processes["api-a" if "worker" in observed.processes else "api"].log
    jobs_log = observed.processes.get("worker", observed.processes.get("api"))
    assert jobs_log is not None

    async def logged() -> list[str]:
        queued = [e for e in json_lines(api_log) if e["request_id"] == rid]
        ran = [e for e in json_lines(jobs_log.log) if e["request_id"] == rid]
        wrong = []
        if not any(e["message"] == "queued job run_task" and e["job_kind"] == "run_task"
                   for e in queued):  # fmt: skip
            wrong.append(f"no API line queued the job: {queued}")
        if not any(e.get("job_kind") == "run_task" and "completed" in e["message"] for e in ran):
            wrong.append(f"no line of the job's end: {ran}")
        return wrong

    await eventually(logged)
    for entry in json_lines(jobs_log.log):
        assert set(entry) >= FIELDS, entry


def test_text_and_json_lines_name_the_request_and_the_job() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        lines: dict[str, str] = {}
        for form in ("text", "json"):
            configure_logging(Settings(log_format=form))
            stream = io.StringIO()
            root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
            rid, job = request_id.set("req-1"), current_job.set(JobFields("run_task", "t1", 2))
            try:
                logging.getLogger("neuronest.test").info("hello %s", "there")
            finally:
                current_job.reset(job)
                request_id.reset(rid)
            logging.getLogger("neuronest.test").warning("outside")
            lines[form] = stream.getvalue()
        first, second = lines["text"].splitlines()
        assert first.endswith("INFO neuronest.test [request_id=req-1 job=run_task:t1] hello there")
        assert second.endswith("WARNING neuronest.test outside")
        inside, outside = (json.loads(line) for line in lines["json"].splitlines())
        assert inside["message"] == "hello there" and inside["level"] == "INFO"
        assert inside["logger"] == "neuronest.test" and inside["request_id"] == "req-1"
        assert (inside["job_kind"], inside["job_id"], inside["job_attempt"]) == (
            "run_task",
            "t1",
            2,
        )
        assert inside["time"].endswith("+00:00")
        assert outside["request_id"] is None and "job_kind" not in outside
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
