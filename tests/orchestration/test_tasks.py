"""Tasks executed by real workers against the tests' own OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import httpx
import pytest

from tests.conftest import Account, gql, register
from tests.harness import Stack
from tests.llm import fake_llm as turns
from tests.llm.fake_llm import FakeLLM
from tests.orchestration.helpers import create_task, make_agent, run_task, wait_task
from tests.ws import Subscriber, bearer

HAIKU = "Silicon thinking\nElectronic neurons fire\nHuman-like wisdom"
TASK_KEYS = {
    "id", "user_id", "task_type", "input_data", "context", "tools", "memory_id", "agent_id",
    "status", "result", "error", "created_at", "updated_at",
}  # fmt: skip


def system_text(request: dict[str, object]) -> str:
    messages = request["messages"]
    assert isinstance(messages, list)
    return "\n".join(str(m["content"]) for m in messages if m["role"] == "system")


async def test_the_reference_haiku_task(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    memory = (
        await api.post("/api/memories", json={"name": "poems"}, headers=account.headers)
    ).json()
    agent = await make_agent(
        api, account, {"model": "gpt-4", "temperature": 0.7, "max_tokens": 1000}
    )
    fake_llm.script(turns.text(HAIKU))
    created = await create_task(
        api,
        account,
        task_type="text_generation",
        input_data={"prompt": "Write a poem about AI"},
        context={"style": "haiku"},
        tools=["search", "calculator"],
        memory_id=memory["id"],
        agent_id=agent["id"],
    )
    assert set(created) >= TASK_KEYS
    assert created["status"] == "created" and created["result"] is None
    assert created["tools"] == ["search", "calculator"]
    task = await wait_task(api, account, created["id"])
    assert task["status"] == "completed", task
    assert task["result"]["text"] == HAIKU
    assert task["result"]["model"].endswith("gpt-4")
    assert task["result"]["usage"]["total_tokens"] > 0
    request = fake_llm.requests[-1]
    assert request["model"] == "gpt-4"
    assert request["temperature"] == 0.7
    assert request.get("max_tokens", request.get("max_completion_tokens")) == 1000
    assert "haiku" in system_text(request)
    assert {t["function"]["name"] for t in request["tools"]} == {"search", "calculator"}
    entries = (
        await api.get(f"/api/memories/{memory['id']}/entries", headers=account.headers)
    ).json()
    assert [e["role"] for e in entries] == ["assistant", "user"]
    assert entries[0]["content"] == HAIKU


async def test_a_bare_model_goes_to_the_default_endpoint(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    fake_llm.script(turns.text("plain"))
    task = await run_task(api, account, task_type="text_generation", input_data={"prompt": "hello"})
    assert task["status"] == "completed", task
    assert fake_llm.requests[-1]["model"] == "fake-default"
    assert fake_llm.requests[-1]["_headers"]["authorization"] == "Bearer test-llm-key"


async def test_an_ollama_model_name_reaches_the_default_endpoint_unchanged(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    agent = await make_agent(api, account, {"model": "hf.co/org/repo:Q4_K_M"})
    fake_llm.script(turns.text("local"))
    task = await run_task(
        api, account, task_type="text_generation", input_data={"prompt": "hi"}, agent_id=agent["id"]
    )
    assert task["status"] == "completed", task
    assert task["result"]["text"] == "local"
    assert fake_llm.requests[-1]["model"] == "hf.co/org/repo:Q4_K_M"


async def test_calculator_tool_call_is_run_and_sent_back(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        turns.tool_call("calculator", {"expression": "2 + 3 * 4"}),
        turns.text("The answer is 14."),
    )
    task = await run_task(
        api,
        account,
        task_type="text_generation",
        input_data={"prompt": "What is 2 + 3 * 4?"},
        tools=["calculator"],
    )
    assert task["status"] == "completed", task
    assert task["result"]["text"] == "The answer is 14."
    assert task["result"]["tool_calls"] == [
        {"name": "calculator", "arguments": {"expression": "2 + 3 * 4"}, "result": "14"}
    ]
    second = fake_llm.requests[-1]
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_messages and tool_messages[0]["content"] == "14"


async def test_a_crashed_code_tool_run_is_reported_to_the_model_as_failed(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        turns.tool_call("code", {"language": "python", "code": "print(1)\nraise SystemExit(3)"}),
        turns.text("It crashed."),
    )
    task = await run_task(
        api, account, task_type="text_generation", input_data={"prompt": "run"}, tools=["code"]
    )
    assert task["status"] == "completed", task
    tool_messages = [m for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool"]
    report = json.loads(tool_messages[0]["content"])
    assert report["error"] == "the program exited with code 3"
    assert report["exit_code"] == 3 and report["stdout"] == "1\n"


async def test_memory_entries_reach_the_model(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    memory = (
        await api.post("/api/memories", json={"name": "facts"}, headers=account.headers)
    ).json()
    for content in ("The project codeword is PINEAPPLE.", "Lunch is at noon."):
        added = await api.post(
            f"/api/memories/{memory['id']}/entries",
            json={"role": "note", "content": content},
            headers=account.headers,
        )
        assert added.status_code == 201
    fake_llm.script(turns.echo())
    task = await run_task(
        api,
        account,
        task_type="text_generation",
        input_data={"prompt": "What is the project codeword?"},
        memory_id=memory["id"],
    )
    assert task["status"] == "completed", task
    assert "PINEAPPLE" in system_text(fake_llm.requests[-1])
    found = await api.get(
        f"/api/memories/{memory['id']}/search", params={"q": "codeword"}, headers=account.headers
    )
    assert "codeword" in found.json()[0]["content"]


async def test_429_is_retried(api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM) -> None:
    fake_llm.script(turns.rate_limited(0.2), turns.text("after waiting"))
    task = await run_task(api, account, task_type="summarization", input_data={"text": "long"})
    assert task["status"] == "completed", task
    assert task["result"]["text"] == "after waiting"
    assert len(fake_llm.requests) == 2


async def test_malformed_output_fails_readably(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    fake_llm.script(turns.malformed())
    task = await run_task(api, account, task_type="text_generation", input_data={"prompt": "x"})
    assert task["status"] == "failed"
    assert task["error"] and "Traceback" not in task["error"]
    assert len(task["error"]) < 500


async def test_unconfigured_provider_says_what_to_set(
    api: httpx.AsyncClient, account: Account
) -> None:
    agent = await make_agent(api, account, {"model": "anthropic:claude-sonnet"})
    task = await run_task(
        api,
        account,
        task_type="text_generation",
        input_data={"prompt": "x"},
        agent_id=agent["id"],
    )
    assert task["status"] == "failed"
    assert "NEURONEST_ANTHROPIC_API_KEY" in task["error"]


async def test_deterministic_types(api: httpx.AsyncClient, account: Account) -> None:
    calc = await run_task(
        api, account, task_type="calculation", input_data={"expression": "(2 + 3) * 7 / 5"}
    )
    assert calc["status"] == "completed" and calc["result"]["text"] == "7"
    formatted = await run_task(
        api,
        account,
        task_type="text_formatting",
        input_data={"text": HAIKU, "format": "json"},
    )
    assert formatted["status"] == "completed"
    assert json.loads(formatted["result"]["text"])["lines"] == HAIKU.split("\n")
    code = await run_task(
        api,
        account,
        task_type="code_execution",
        input_data={"language": "python", "code": "import sys\nprint(6*7)\nsys.exit(2)"},
    )
    assert code["status"] == "failed", code
    assert code["error"] == "the program exited with code 2"
    assert code["result"]["stdout"] == "42\n" and code["result"]["exit_code"] == 2
    assert code["result"]["timed_out"] is False
    hung = await run_task(
        api,
        account,
        task_type="code_execution",
        input_data={"language": "python", "code": "print('start', flush=True)\nwhile True: pass",
                    "timeout": 1},
    )  # fmt: skip
    assert hung["status"] == "failed", hung
    assert hung["error"] == "the program timed out after 1 s"
    assert hung["result"]["timed_out"] is True and hung["result"]["stdout"] == "start\n"
    fine = await run_task(
        api, account, task_type="code_execution", input_data={"language": "bash", "code": "echo ok"}
    )
    assert fine["status"] == "completed" and fine["error"] is None
    assert fine["result"]["exit_code"] == 0 and fine["result"]["text"] == "ok\n"


async def test_bad_input_is_422_or_404(api: httpx.AsyncClient, account: Account) -> None:
    stranger = await register(api)
    their_agent = await make_agent(api, stranger, {"model": "gpt-4"})
    their_memory = (
        await api.post("/api/memories", json={"name": "m"}, headers=stranger.headers)
    ).json()
    cases = [
        ({"task_type": "dance", "input_data": {}}, 422, "task_type"),
        ({"task_type": "text_generation", "input_data": {}}, 422, "prompt"),
        ({"task_type": "text_generation", "input_data": {"prompt": "x"}, "tools": ["laser"]},
         422, "laser"),
        ({"task_type": "calculation", "input_data": {"expression": "2 +"}}, 422, "expression"),
        ({"task_type": "text_formatting", "input_data": {"text": "x", "format": "pdf"}},
         422, "format"),
        ({"task_type": "text_generation", "input_data": {"prompt": "x"},
          "agent_id": their_agent["id"]}, 404, "Agent"),
        ({"task_type": "text_generation", "input_data": {"prompt": "x"},
          "memory_id": their_memory["id"]}, 404, "Memory"),
    ]  # fmt: skip
    for body, status, word in cases:
        response = await api.post("/api/orchestration/tasks", json=body, headers=account.headers)
        assert response.status_code == status, (body, response.text)
        assert word in response.json()["detail"], response.text
    for configuration in (
        {"model": "gpt-4", "temperature": 3},
        {"model": "gpt-4", "max_tokens": 0},
        {"model": "ollama:"},
        {"model": ""},
        {"model": "gpt-4", "colour": "blue"},
    ):
        response = await api.post(
            "/api/orchestration/agents",
            json={"name": "a", "configuration": configuration},
            headers=account.headers,
        )
        assert response.status_code == 422, (configuration, response.text)
    listed = await api.get("/api/orchestration/tasks", headers=account.headers)
    assert listed.json() == []


async def test_other_users_see_nothing(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    task = await run_task(api, account, task_type="calculation", input_data={"expression": "1"})
    agent = await make_agent(api, account, {"model": "gpt-4"})
    memory = (await api.post("/api/memories", json={"name": "m"}, headers=account.headers)).json()
    intruder = await register(api)
    for method, path in [
        ("GET", f"/api/orchestration/tasks/{task['id']}"),
        ("DELETE", f"/api/orchestration/tasks/{task['id']}"),
        ("POST", f"/api/orchestration/tasks/{task['id']}/cancel"),
        ("GET", f"/api/orchestration/agents/{agent['id']}"),
        ("PUT", f"/api/orchestration/agents/{agent['id']}"),
        ("DELETE", f"/api/orchestration/agents/{agent['id']}"),
        ("GET", f"/api/memories/{memory['id']}"),
        ("GET", f"/api/memories/{memory['id']}/entries"),
        ("DELETE", f"/api/memories/{memory['id']}"),
    ]:
        body = {"name": "x"} if method == "PUT" else None
        response = await api.request(method, path, json=body, headers=intruder.headers)
        assert response.status_code == 404, (method, path, response.text)
    for path in ("/api/orchestration/tasks", "/api/orchestration/agents", "/api/memories"):
        assert (await api.get(path, headers=intruder.headers)).json() == []


async def test_agent_crud_shapes(api: httpx.AsyncClient, account: Account) -> None:
    agent = await make_agent(
        api, account, {"model": "gpt-4", "temperature": 0.7, "max_tokens": 1000}
    )
    assert agent["capabilities"] == ["text_generation", "poetry", "creative_writing"]
    updated = await api.put(
        f"/api/orchestration/agents/{agent['id']}",
        json={
            "name": "Advanced Poetry Agent",
            "capabilities": ["haiku"],
            "configuration": {"model": "gpt-4", "temperature": 0.8, "max_tokens": 2000},
        },
        headers=account.headers,
    )
    assert updated.status_code == 200
    body = updated.json()
    assert body["name"] == "Advanced Poetry Agent"
    assert body["description"] == agent["description"]
    assert body["configuration"]["max_tokens"] == 2000
    listed = (await api.get("/api/orchestration/agents", headers=account.headers)).json()
    assert [a["id"] for a in listed] == [agent["id"]]
    deleted = await api.delete(f"/api/orchestration/agents/{agent['id']}", headers=account.headers)
    assert deleted.json() == {"message": "Agent deleted successfully"}


async def test_a_configuration_is_typed_in_graphql_and_shown_as_sent_in_rest(
    api: httpx.AsyncClient, account: Account
) -> None:
    configuration = {"model": "gpt-4", "system_prompt": "Be brief."}
    agent = await make_agent(api, account, configuration)
    assert agent["configuration"] == configuration
    result = await gql(
        api,
        "query($id: ID!) { agent(agentId: $id) { configuration { model temperature maxTokens "
        "systemPrompt } } }",
        {"id": agent["id"]},
        token=account.token,
    )
    assert result["data"]["agent"]["configuration"] == {
        "model": "gpt-4",
        "temperature": None,
        "maxTokens": None,
        "systemPrompt": "Be brief.",
    }
    refused = await gql(
        api,
        'mutation { createAgent(input: {name: "a", configuration: {temperature: 7}}) { id } }',
        token=account.token,
    )
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["errors"][0]["message"] == (
        "configuration.temperature: must be a number from 0 to 2"
    )


async def test_cancel_mid_stream(
    api: httpx.AsyncClient, account: Account, fake_llm: FakeLLM
) -> None:
    fake_llm.script(turns.slow_text("word " * 200, delay=0.1))
    task = await create_task(api, account, task_type="text_generation", input_data={"prompt": "x"})
    await wait_task(api, account, task["id"], {"running"})
    await fake_llm.wait_for_requests_async(1)
    await asyncio.sleep(0.3)
    response = await api.post(
        f"/api/orchestration/tasks/{task['id']}/cancel", headers=account.headers
    )
    assert response.json() == {"message": "Task cancelled successfully"}
    final = await wait_task(api, account, task["id"])
    assert final["status"] == "cancelled"
    for _ in range(100):
        if fake_llm.closed_streams:
            break
        await asyncio.sleep(0.05)
    assert fake_llm.closed_streams == 1
    again = await api.post(f"/api/orchestration/tasks/{task['id']}/cancel", headers=account.headers)
    assert again.status_code == 409
    await asyncio.sleep(0.5)
    assert (await wait_task(api, account, task["id"]))["status"] == "cancelled"


async def test_task_updates_stream_status_and_text(
    api: httpx.AsyncClient, account: Account, stack: Stack, fake_llm: FakeLLM
) -> None:
    fake_llm.script(turns.text(HAIKU, chunk=4, delay=0.02))
    task = await create_task(api, account, task_type="text_generation", input_data={"prompt": "x"})
    client = Subscriber(stack.ws_url)
    await client.connect(bearer(account.token))
    await client.subscribe(
        f'subscription {{ taskUpdates(taskId: "{task["id"]}") {{ type text task {{ status }} }} }}'
    )
    statuses: list[str] = []
    text = ""
    while True:
        message = await client.next()
        if message["type"] == "complete":
            break
        assert message["payload"].get("data"), message
        update = message["payload"]["data"]["taskUpdates"]
        if update["type"] == "delta":
            text += update["text"]
        else:
            statuses.append(update["task"]["status"])
    await client.close()
    assert statuses[-1] == "completed"
    assert text == HAIKU


async def test_killing_the_worker_mid_task(
    api: httpx.AsyncClient, account: Account, stack: Stack, fake_llm: FakeLLM
) -> None:
    if stack.mode != "postgres":
        pytest.skip("the embedded stack has no separate worker")
    fake_llm.script(turns.slow_text("never finished " * 50, delay=0.1), turns.text("second try"))
    task = await create_task(api, account, task_type="text_generation", input_data={"prompt": "x"})
    await wait_task(api, account, task["id"], {"running"})
    await fake_llm.wait_for_requests_async(1)
    worker = stack.processes["worker"]
    os.kill(worker.popen.pid, signal.SIGKILL)
    worker.popen.wait()
    stack.start_worker("worker")
    final = await wait_task(api, account, task["id"], timeout=60)
    assert final["status"] == "completed", final
    assert final["result"]["text"] == "second try"
    assert final["attempts"] == 2
    assert len(fake_llm.requests) == 2


async def test_a_subscriber_joining_mid_stream_gets_all_the_text_once(
    api: httpx.AsyncClient, account: Account, stack: Stack, fake_llm: FakeLLM
) -> None:
    words = " ".join(f"w{n}" for n in range(40))
    fake_llm.script(turns.slow_text(words, delay=0.02, chunk=3))
    task = await create_task(api, account, task_type="text_generation", input_data={"prompt": "x"})
    await wait_task(api, account, task["id"], {"running"})
    await asyncio.sleep(0.3)  # part of the answer is already streamed
    client = Subscriber(stack.ws_url)
    await client.connect(bearer(account.token))
    await client.subscribe(
        f'subscription {{ taskUpdates(taskId: "{task["id"]}") {{ type text task {{ status }} }} }}'
    )
    text = ""
    while (message := await client.next())["type"] != "complete":
        update = message["payload"]["data"]["taskUpdates"]
        if update["type"] == "delta":
            text += update["text"]
    await client.close()
    assert text == words
