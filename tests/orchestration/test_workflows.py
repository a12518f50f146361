"""Workflows end to end: real workers, real sandboxes, the tests' loopback model server."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix, job_key_prefix

from tests.conftest import Account, gql, register
from tests.harness import Stack
from tests.llm import fake_llm as turns
from tests.llm.fake_llm import FakeLLM
from tests.orchestration.helpers import wait_task
from tests.ws import Subscriber, bearer

RESEARCH = {
    "id": "step1",
    "name": "Research",
    "task_type": "research",
    "input_data": {"query": "${topic}"},
}
POEM = {
    "id": "step2",
    "name": "Generate Poetry",
    "task_type": "text_generation",
    "input_data": {
        "prompt": (
            "Write a poem about ${topic} using the following information: ${step1.result.text}"
        )
    },
    "depends_on": ["step1"],
}
FORMAT = {
    "id": "step3",
    "name": "Format Poetry",
    "task_type": "text_formatting",
    "input_data": {"text": "${step2.result.text}", "format": "markdown"},
    "depends_on": ["step2"],
}


def sleeper(step_id: str, seconds: float, **extra: Any) -> dict[str, Any]:
    code = f"import time\ntime.sleep({seconds})\nprint('{step_id}')"
    return {
        "id": step_id,
        "task_type": "code_execution",
        "input_data": {"language": "python", "code": code},
        **extra,
    }


async def create(api: httpx.AsyncClient, account: Account, steps: list[Any]) -> dict[str, Any]:
    response = await api.post(
        "/api/orchestration/workflows",
        json={"name": "Poetry Generation Workflow", "description": "d", "steps": steps},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def execute(
    api: httpx.AsyncClient, account: Account, workflow_id: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await api.post(
        f"/api/orchestration/workflows/{workflow_id}/execute",
        json=variables,
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def steps_of(api: httpx.AsyncClient, account: Account, task_id: str) -> dict[str, Any]:
    result = await gql(
        api,
        f'{{ workflowSteps(taskId: "{task_id}") {{ id status attempts taskId startedAt '
        "finishedAt result error } }",
        token=account.token,
    )
    return {step["id"]: step for step in result["data"]["workflowSteps"]}


async def test_the_reference_two_and_three_step_workflows(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    workflow = await create(api, account, [RESEARCH, POEM])
    assert workflow["steps"] == [RESEARCH, POEM]
    assert workflow["status"] == "created" and workflow["result"] is None
    fake_llm.script(turns.text("Neural networks learn from data."), turns.echo())
    task = await execute(api, account, workflow["id"], {"topic": "artificial intelligence"})
    assert task["task_type"] == "workflow"
    assert task["input_data"] == {"topic": "artificial intelligence"}
    assert task["context"] == {"workflow_id": workflow["id"]}
    assert task["tools"] is None and task["memory_id"] is None and task["agent_id"] is None
    assert task["status"] == "created" and task["result"] is None and task["error"] is None
    done = await wait_task(api, account, task["id"])
    assert done["status"] == "completed", done
    second_prompt = turns.last_user_message(fake_llm.requests[1])
    assert "artificial intelligence" in second_prompt
    assert "Neural networks learn from data." in second_prompt
    assert done["result"]["text"].startswith("You said: Write a poem about artificial intelligence")
    assert set(done["result"]["steps"]) == {"step1", "step2"}
    shown = (
        await api.get(f"/api/orchestration/workflows/{workflow['id']}", headers=account.headers)
    ).json()
    assert shown["status"] == "completed" and shown["result"] == done["result"]

    updated = await api.put(
        f"/api/orchestration/workflows/{workflow['id']}",
        json={"name": "Advanced Poetry Generation Workflow", "steps": [RESEARCH, POEM, FORMAT]},
        headers=account.headers,
    )
    assert updated.status_code == 200 and updated.json()["steps"] == [RESEARCH, POEM, FORMAT]
    fake_llm.script(turns.text("Facts."), turns.text("Line one\nLine two"))
    three = await wait_task(
        api, account, (await execute(api, account, workflow["id"], {"topic": "AI"}))["id"]
    )
    assert three["status"] == "completed", three
    assert three["result"]["text"] == "Line one\\\nLine two\n"


async def test_diamond_branches_run_at_the_same_time(
    api: httpx.AsyncClient, account: Account
) -> None:
    steps = [
        {"id": "a", "task_type": "calculation", "input_data": {"expression": "1+1"}},
        sleeper("b", 2, depends_on=["a"]),
        sleeper("c", 2, depends_on=["a"]),
        {"id": "d", "task_type": "calculation", "input_data": {"expression": "2*2"},
         "depends_on": ["b", "c"]},
    ]  # fmt: skip
    workflow = await create(api, account, steps)
    task = await execute(api, account, workflow["id"], {})
    done = await wait_task(api, account, task["id"], timeout=90)
    assert done["status"] == "completed", done
    states = await steps_of(api, account, task["id"])
    b, c = states["b"], states["c"]
    assert b["startedAt"] < c["finishedAt"] and c["startedAt"] < b["finishedAt"], (b, c)
    assert states["d"]["startedAt"] >= max(b["finishedAt"], c["finishedAt"])
    assert done["result"]["text"] == "4"


async def test_exact_templates_keep_their_type(api: httpx.AsyncClient, account: Account) -> None:
    steps = [
        {"id": "n", "task_type": "calculation", "input_data": {"expression": "6*7"}},
        {"id": "run", "task_type": "code_execution", "depends_on": ["n"],
         "input_data": {"language": "python", "timeout": "${n.result.value}",
                        "code": "print('${n.result.text} $${literal}')"}},
    ]  # fmt: skip
    workflow = await create(api, account, steps)
    task = await execute(api, account, workflow["id"], {})
    done = await wait_task(api, account, task["id"], timeout=60)
    assert done["status"] == "completed", done
    states = await steps_of(api, account, task["id"])
    child = (
        await api.get(
            f"/api/orchestration/tasks/{states['run']['taskId']}", headers=account.headers
        )
    ).json()
    assert child["input_data"]["timeout"] == 42
    assert child["result"]["stdout"] == "42 ${literal}\n"


async def test_steps_are_typed_in_graphql_and_shown_as_sent_in_rest(
    api: httpx.AsyncClient, account: Account
) -> None:
    tuned = {**FORMAT, "retries": 2, "continue_on_error": True, "context": {"a": None}}
    workflow = await create(api, account, [RESEARCH, POEM, tuned])
    assert workflow["steps"] == [RESEARCH, POEM, tuned]
    shown = await api.get(f"/api/orchestration/workflows/{workflow['id']}", headers=account.headers)
    assert shown.json()["steps"] == [RESEARCH, POEM, tuned]
    result = await gql(
        api,
        "query($id: ID!) { workflow(workflowId: $id) { steps { id taskType dependsOn retries "
        "continueOnError context } } }",
        {"id": workflow["id"]},
        token=account.token,
    )
    assert result["data"]["workflow"]["steps"][2] == {
        "id": "step3",
        "taskType": "text_formatting",
        "dependsOn": ["step2"],
        "retries": 2,
        "continueOnError": True,
        "context": {"a": None},
    }
    refused = await api.post(
        "/api/orchestration/workflows",
        json={"name": "w", "steps": [{**RESEARCH, "colour": "blue"}]},
        headers=account.headers,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "steps", 0, "colour"]


async def test_invalid_workflows_are_refused_precisely(
    api: httpx.AsyncClient, account: Account
) -> None:
    calc = {"task_type": "calculation", "input_data": {"expression": "1"}}
    cases = [
        ([{"id": "a", **calc, "depends_on": ["b"]}, {"id": "b", **calc, "depends_on": ["a"]}],
         "cycle: a -> b -> a"),
        ([{"id": "a", **calc, "depends_on": ["b"]}, {"id": "b", **calc, "depends_on": ["c"]},
          {"id": "c", **calc, "depends_on": ["a"]}, {"id": "d", **calc}],
         "cycle: a -> b -> c -> a"),
        ([{"id": "a", **calc, "depends_on": ["ghost"]}], "'ghost', which is no step"),
        ([{"id": "a", "task_type": "calculation", "input_data": {"expression": "${b.result.text}"}},
          {"id": "b", **calc}], "not among its dependencies"),
        ([{"id": "a", "task_type": "dance", "input_data": {}}], "unknown task_type 'dance'"),
        ([{"id": "a", **calc}, {"id": "a", **calc}], "'a' is used twice"),
        ([{"id": "a", **calc, "retries": 99}], "retries"),
        ([], "at least one step"),
    ]  # fmt: skip
    for steps, expected in cases:
        response = await api.post(
            "/api/orchestration/workflows",
            json={"name": "w", "steps": steps},
            headers=account.headers,
        )
        assert response.status_code == 422, (steps, response.text)
        assert expected in response.json()["detail"], response.json()
    workflow = await create(api, account, [RESEARCH, POEM])
    missing = await api.post(
        f"/api/orchestration/workflows/{workflow['id']}/execute",
        json={"other": 1},
        headers=account.headers,
    )
    assert missing.status_code == 422 and "topic" in missing.json()["detail"]
    runs = await api.get(
        "/api/orchestration/tasks", params={"task_type": "workflow"}, headers=account.headers
    )
    assert runs.json() == []


async def test_a_step_with_retries_succeeds_on_its_third_try(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    fake_llm.script(turns.malformed(), turns.malformed(), turns.text("third time lucky"))
    step = {"id": "flaky", "task_type": "text_generation", "input_data": {"prompt": "x"},
            "retries": 2}  # fmt: skip
    workflow = await create(api, account, [step])
    task = await execute(api, account, workflow["id"], {})
    done = await wait_task(api, account, task["id"], timeout=60)
    assert done["status"] == "completed", done
    assert done["result"]["text"] == "third time lucky"
    assert (await steps_of(api, account, task["id"]))["flaky"]["attempts"] == 3


async def test_a_failing_step_fails_the_run_and_cancels_its_siblings(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    fake_llm.script(turns.malformed())
    steps = [
        sleeper("slow", 30),
        {"id": "bad", "task_type": "text_generation", "input_data": {"prompt": "x"}},
        {"id": "after", "task_type": "calculation", "input_data": {"expression": "1"},
         "depends_on": ["slow"]},
    ]  # fmt: skip
    workflow = await create(api, account, steps)
    task = await execute(api, account, workflow["id"], {})
    done = await wait_task(api, account, task["id"], timeout=60)
    assert done["status"] == "failed"
    assert "'bad'" in done["error"]
    await asyncio.sleep(0.5)
    states = await steps_of(api, account, task["id"])
    assert states["slow"]["status"] == "cancelled"
    assert states["after"]["status"] == "pending"


async def test_a_crashed_code_step_fails_the_run_unless_it_may(
    api: httpx.AsyncClient, account: Account
) -> None:
    crash = {
        "id": "crash",
        "task_type": "code_execution",
        "input_data": {"language": "python", "code": "raise SystemExit(2)"},
    }
    after = {"id": "after", "task_type": "calculation", "input_data": {"expression": "1"},
             "depends_on": ["crash"]}  # fmt: skip
    workflow = await create(api, account, [sleeper("slow", 30), crash, after])
    task = await execute(api, account, workflow["id"], {})
    done = await wait_task(api, account, task["id"], timeout=60)
    assert done["status"] == "failed", done
    assert "'crash'" in done["error"] and "exited with code 2" in done["error"]
    states = await steps_of(api, account, task["id"])
    assert states["crash"]["status"] == "failed"
    assert states["crash"]["result"]["exit_code"] == 2
    assert states["after"]["status"] == "pending"
    slow = await wait_task(api, account, states["slow"]["taskId"], timeout=10)
    assert slow["status"] == "cancelled"

    tolerant = await create(api, account, [{**crash, "continue_on_error": True}, after])
    task = await execute(api, account, tolerant["id"], {})
    done = await wait_task(api, account, task["id"], timeout=60)
    assert done["status"] == "completed", done
    assert (await steps_of(api, account, task["id"]))["after"]["status"] == "completed"


async def test_cancel_mid_run_leaves_no_step_running(
    api: httpx.AsyncClient, account: Account
) -> None:
    steps = [sleeper("one", 30), sleeper("two", 30, depends_on=["one"])]
    workflow = await create(api, account, steps)
    task = await execute(api, account, workflow["id"], {})
    for _ in range(200):
        if (await steps_of(api, account, task["id"]))["one"]["status"] == "running":
            break
        await asyncio.sleep(0.05)
    response = await api.post(
        f"/api/orchestration/tasks/{task['id']}/cancel", headers=account.headers
    )
    assert response.status_code == 200
    await asyncio.sleep(1)
    states = await steps_of(api, account, task["id"])
    assert states["one"]["status"] == "cancelled"
    assert states["two"]["status"] == "pending"
    workflow_now = (
        await api.get(f"/api/orchestration/workflows/{workflow['id']}", headers=account.headers)
    ).json()
    assert workflow_now["status"] == "cancelled"


async def test_progress_reaches_task_updates(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    # The first step takes two seconds: the subscription is in place long before the second.
    steps = [
        sleeper("x", 2),
        {"id": "y", "task_type": "calculation", "input_data": {"expression": "2"},
         "depends_on": ["x"]},
    ]  # fmt: skip
    workflow = await create(api, account, steps)
    task = await execute(api, account, workflow["id"], {})
    client = Subscriber(stack.ws_url)
    await client.connect(bearer(account.token))
    await client.subscribe(
        f'subscription {{ taskUpdates(taskId: "{task["id"]}") '
        "{ type stepId stepStatus task { status } } }"
    )
    seen: list[tuple[str | None, str | None]] = []
    final = None
    while (message := await client.next(timeout=30))["type"] != "complete":
        update = message["payload"]["data"]["taskUpdates"]
        if update["type"] == "step":
            seen.append((update["stepId"], update["stepStatus"]))
        final = update["task"]["status"]
    await client.close()
    assert final == "completed"
    assert ("x", "completed") in seen and ("y", "completed") in seen, seen
    assert seen.index(("x", "completed")) < seen.index(("y", "created")), seen
    assert seen.index(("y", "created")) < seen.index(("y", "completed")), seen
    # and between the two, the moment it started
    assert seen.index(("y", "created")) < seen.index(("y", "running")), seen
    assert seen.index(("y", "running")) < seen.index(("y", "completed")), seen


async def test_editing_a_workflow_leaves_a_running_run_alone(
    api: httpx.AsyncClient, account: Account
) -> None:
    workflow = await create(api, account, [sleeper("first", 2)])
    task = await execute(api, account, workflow["id"], {})
    await api.put(
        f"/api/orchestration/workflows/{workflow['id']}",
        json={"steps": [{"id": "other", "task_type": "calculation",
                         "input_data": {"expression": "1"}}]},
        headers=account.headers,
    )  # fmt: skip
    done = await wait_task(api, account, task["id"], timeout=60)
    assert done["status"] == "completed", done
    assert set(done["result"]["steps"]) == {"first"}


async def test_killing_the_worker_mid_run(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    if stack.mode != "postgres":
        pytest.skip("the embedded stack has no separate worker")
    steps = [
        {"id": "a", "task_type": "calculation", "input_data": {"expression": "2+3"}},
        sleeper("b", 4, depends_on=["a"]),
        {"id": "c", "task_type": "calculation", "input_data": {"expression": "${a.result.text}*2"},
         "depends_on": ["b"]},
    ]  # fmt: skip
    workflow = await create(api, account, steps)
    task = await execute(api, account, workflow["id"], {})
    for _ in range(400):
        if (await steps_of(api, account, task["id"]))["b"]["status"] == "running":
            break
        await asyncio.sleep(0.05)
    worker = stack.processes["worker"]
    os.kill(worker.popen.pid, signal.SIGKILL)
    worker.popen.wait()
    stack.start_worker("worker")
    done = await wait_task(api, account, task["id"], timeout=90)
    assert done["status"] == "completed", done
    assert done["result"]["text"] == "10"
    children = await gql(
        api,
        f'{{ tasks(parentId: "{task["id"]}") {{ stepId status attempts }} }}',
        token=account.token,
    )
    by_step: dict[str, list[Any]] = {}
    for child in children["data"]["tasks"]:
        by_step.setdefault(child["stepId"], []).append(child)
    assert len(by_step["a"]) == 1 and by_step["a"][0]["attempts"] == 1
    assert len(by_step["c"]) == 1


WIDE = 200


def wide_fan_out() -> list[dict[str, Any]]:
    """WIDE parallel steps (branch i computes i) into one step that lists all their results."""
    branches = [
        {"id": f"b{i}", "task_type": "calculation", "input_data": {"expression": f"{i}+0"}}
        for i in range(WIDE)
    ]
    join = {
        "id": "join",
        "task_type": "text_formatting",
        "input_data": {
            "text": " ".join(f"${{b{i}.result.text}}" for i in range(WIDE)),
            "format": "plain",
        },
        "depends_on": [f"b{i}" for i in range(WIDE)],
    }
    return [*branches, join]


async def ran(redis: ArqRedis, job_ids: list[str], timeout: float = 60) -> None:
    """Until each of these jobs has run (a job's key goes once it ends: no results are kept)."""
    deadline = asyncio.get_running_loop().time() + timeout
    keys = [
        prefix + job_id for job_id in job_ids for prefix in (job_key_prefix, in_progress_key_prefix)
    ]
    while await redis.exists(*keys):
        assert asyncio.get_running_loop().time() < deadline, "the jobs did not run"
        await asyncio.sleep(0.05)


async def test_a_wide_fan_out_joins_every_branch_once(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    """On PostgreSQL with two workers, and the run's jobs delivered again during the run and
    after it: every branch runs once, the join once, with each branch's result once."""
    workflow = await create(api, account, wide_fan_out())
    redis: ArqRedis | None = None
    if stack.mode == "postgres":
        stack.start_worker("worker-2")
        redis = await create_pool(RedisSettings.from_dsn(stack.env["NEURONEST_REDIS_URL"]))
    try:
        task = await execute(api, account, workflow["id"], {})
        if redis is not None:
            for n in range(20):
                await redis.enqueue_job(
                    "advance_workflow", task["id"], _job_id=f"again-{task['id']}-{n}"
                )
        done = await wait_task(api, account, task["id"], timeout=120)
        assert done["status"] == "completed", done
        assert done["result"]["text"].split() == [str(i) for i in range(WIDE)]
        steps = await steps_of(api, account, task["id"])
        assert len(steps) == WIDE + 1
        assert {(s["status"], s["attempts"]) for s in steps.values()} == {("completed", 1)}
        join = steps["join"]
        assert all(join["startedAt"] >= s["finishedAt"] for i, s in steps.items() if i != "join")
        if redis is not None:
            # Every step's job once more, and the run's: nothing runs again.
            again_ids = [f"again-{step['taskId']}" for step in steps.values()]
            for step, job_id in zip(steps.values(), again_ids, strict=True):
                await redis.enqueue_job("run_task", step["taskId"], 0, _job_id=job_id)
            after = f"again-{task['id']}"
            await redis.enqueue_job("advance_workflow", task["id"], _job_id=after)
            await ran(redis, [*again_ids, after])
            assert await steps_of(api, account, task["id"]) == steps
            again = await wait_task(api, account, task["id"])
            assert again["result"] == done["result"] and again["updated_at"] == done["updated_at"]
    finally:
        if redis is not None:
            await redis.aclose()
            stack.processes.pop("worker-2").stop()


async def test_a_workflows_runs_are_listed_newest_first_for_its_owner_alone(
    api: httpx.AsyncClient, account: Account
) -> None:
    calc = [{"id": "a", "task_type": "calculation", "input_data": {"expression": "1+1"}}]
    workflow = await create(api, account, calc)
    other_workflow = await create(api, account, calc)
    runs = [await execute(api, account, workflow["id"], {}) for _ in range(3)]
    await execute(api, account, other_workflow["id"], {})
    query = (
        "query ($id: ID!, $limit: Int) "
        "{ workflowRuns(workflowId: $id, limit: $limit) { id taskType } }"
    )
    listed = await gql(api, query, {"id": workflow["id"]}, token=account.token)
    assert listed["data"]["workflowRuns"] == [
        {"id": run["id"], "taskType": "workflow"} for run in reversed(runs)
    ], listed
    first = await gql(api, query, {"id": workflow["id"], "limit": 1}, token=account.token)
    assert [run["id"] for run in first["data"]["workflowRuns"]] == [runs[-1]["id"]]

    stranger = await register(api, "Stranger")
    refused = await gql(api, query, {"id": workflow["id"]}, token=stranger.token)
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND", refused
