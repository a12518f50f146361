"""Runtimes end to end: real servers, a real worker, real Docker (PostgreSQL stack) and real
bubblewrap (embedded stack)."""

from __future__ import annotations

import time

import httpx

from tests.conftest import Account, gql, register
from tests.harness import Stack
from tests.runtimes.helpers import (
    FINAL,
    fetch_when_up,
    http_server_program,
    logs,
    make_project,
    make_runtime,
    output,
    run_to_end,
    start,
    wait_output,
    wait_status,
)

RUNTIME_KEYS = {
    "id", "project_id", "user_id", "language", "status", "environment_vars", "entry_point",
    "container_id", "port", "url", "timeout", "created_at", "updated_at",
}  # fmt: skip


async def test_create_get_list_shapes(api: httpx.AsyncClient, account: Account) -> None:
    runtime = await make_runtime(
        api, account, "print(1)", env={"API_KEY": "k", "DEBUG": "true"}, timeout=300
    )
    assert set(runtime) >= RUNTIME_KEYS | {"exit_code", "error", "started_at", "finished_at"}
    assert runtime["status"] == "created"
    assert runtime["environment_vars"] == {"API_KEY": "k", "DEBUG": "true"}
    assert runtime["user_id"] == account.user["id"]
    assert runtime["container_id"] is None and runtime["port"] is None and runtime["url"] is None
    got = await api.get(f"/api/runtimes/{runtime['id']}", headers=account.headers)
    assert got.json() == runtime
    listed = await api.get(
        "/api/runtimes",
        params={"project_id": runtime["project_id"], "language": "python", "status": "created"},
        headers=account.headers,
    )
    assert [r["id"] for r in listed.json()] == [runtime["id"]]
    none = await api.get(
        "/api/runtimes",
        params={"status": "running", "project_id": runtime["project_id"]},
        headers=account.headers,
    )
    assert none.json() == []


async def test_invalid_input_is_422_and_creates_nothing(
    api: httpx.AsyncClient, account: Account
) -> None:
    project = await make_project(api, account, {"main.py": "print(1)"})
    base = {"project_id": project["id"], "language": "python", "entry_point": "main.py"}
    cases = [
        ({**base, "language": "cobol"}, "language"),
        ({**base, "entry_point": "../etc/passwd"}, "entry_point"),
        ({**base, "entry_point": "/abs.py"}, "entry_point"),
        ({**base, "timeout": 0}, "timeout"),
        ({**base, "environment_vars": {"BAD-NAME": "x"}}, "environment_vars"),
        ({**base, "environment_vars": {"PORT": "1"}}, "environment_vars"),
    ]
    for body, field in cases:
        response = await api.post("/api/runtimes", json=body, headers=account.headers)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["detail"]
    missing = await api.post(
        "/api/runtimes",
        json={**base, "project_id": "00000000-0000-0000-0000-000000000000"},
        headers=account.headers,
    )
    assert missing.status_code == 404
    listed = await api.get(
        "/api/runtimes", params={"project_id": project["id"]}, headers=account.headers
    )
    assert listed.json() == []


async def test_script_completes_with_its_lines_in_order(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    code = (
        "import sys\nfor i in range(50):\n    print(f'line {i}')\nprint('oops', file=sys.stderr)\n"
    )
    final, lines = await run_to_end(api, account, code)
    assert final["status"] == "completed", final
    assert final["exit_code"] == 0
    assert final["container_id"] is None and final["port"] is None and final["url"] is None
    assert final["started_at"] and final["finished_at"]
    assert output(lines) == [f"line {i}" for i in range(50)]
    assert output(lines, "stderr") == ["oops"]
    system = output(lines, "system")
    assert stack.backend in system[0]
    assert "exited with code 0" in system[-1]
    assert set(lines[0]) == {"id", "runtime_id", "user_id", "type", "message", "timestamp"}
    last_two = await logs(api, account, final["id"], limit=2)
    assert last_two == lines[-2:]


async def test_exit_code_3_fails(api: httpx.AsyncClient, account: Account) -> None:
    final, _ = await run_to_end(api, account, "print('bye')\nexit(3)\n")
    assert final["status"] == "failed"
    assert final["exit_code"] == 3
    assert "3" in final["error"]


async def test_endless_loop_times_out(api: httpx.AsyncClient, account: Account) -> None:
    runtime = await make_runtime(api, account, "while True:\n    pass\n", timeout=2)
    began = time.monotonic()
    await start(api, account, runtime["id"])
    final = await wait_status(api, account, runtime["id"], FINAL, timeout=30)
    assert final["status"] == "timeout"
    assert time.monotonic() - began < 15
    assert "timeout" in output(await logs(api, account, runtime["id"]), "system")[-1]


async def test_server_answers_at_url_and_stop_waits(
    api: httpx.AsyncClient, account: Account
) -> None:
    code = http_server_program("hello runtime")
    runtime = await make_runtime(api, account, code)
    await start(api, account, runtime["id"])
    running = await wait_status(api, account, runtime["id"], {"running"} | FINAL)
    assert running["status"] == "running", running
    assert running["port"] and running["url"] == f"http://127.0.0.1:{running['port']}"
    assert running["container_id"]
    async with httpx.AsyncClient() as client:
        assert await fetch_when_up(client, running["url"]) == "hello runtime"
    again = await api.post(f"/api/runtimes/{runtime['id']}/start", headers=account.headers)
    assert again.status_code == 409
    stop = await api.post(f"/api/runtimes/{runtime['id']}/stop", headers=account.headers)
    assert stop.json() == {"message": "Runtime stopped"}
    stopped = (await api.get(f"/api/runtimes/{runtime['id']}", headers=account.headers)).json()
    assert stopped["status"] == "stopped"
    assert stopped["port"] is None and stopped["url"] is None and stopped["container_id"] is None


async def test_deleting_a_project_stops_and_deletes_its_runtimes(
    api: httpx.AsyncClient, account: Account
) -> None:
    code = http_server_program("still here")
    runtime = await make_runtime(api, account, code)
    await start(api, account, runtime["id"])
    running = await wait_status(api, account, runtime["id"], {"running"} | FINAL)
    assert running["status"] == "running", running
    async with httpx.AsyncClient(timeout=5) as client:
        assert await fetch_when_up(client, running["url"]) == "still here"
        project_id = runtime["project_id"]
        deleted = await api.delete(f"/api/projects/{project_id}", headers=account.headers)
        assert deleted.json() == {"message": "Project deleted successfully"}
        # The deletion waited for the program to stop: its port no longer answers.
        try:
            answer = (await client.get(running["url"])).text
        except httpx.HTTPError:
            answer = None
        assert answer is None
    gone = await api.get(f"/api/runtimes/{runtime['id']}", headers=account.headers)
    assert gone.status_code == 404


async def test_update_running_runtime_stops_it(api: httpx.AsyncClient, account: Account) -> None:
    runtime = await make_runtime(
        api, account, "import time\nprint('up', flush=True)\ntime.sleep(600)\n"
    )
    await start(api, account, runtime["id"])
    await wait_status(api, account, runtime["id"], {"running"})
    response = await api.put(
        f"/api/runtimes/{runtime['id']}",
        json={"entry_point": "app.py", "environment_vars": {"API_KEY": "new"}, "timeout": 600},
        headers=account.headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "stopped"
    assert body["entry_point"] == "app.py" and body["timeout"] == 600
    assert body["environment_vars"] == {"API_KEY": "new"}
    assert body["container_id"] is None and body["url"] is None


async def test_restart_gives_a_fresh_run(api: httpx.AsyncClient, account: Account) -> None:
    code = "import time, uuid\nprint('run', uuid.uuid4().hex, flush=True)\ntime.sleep(600)\n"
    runtime = await make_runtime(api, account, code)
    await start(api, account, runtime["id"])
    first = await wait_status(api, account, runtime["id"], {"running"})
    await wait_output(api, account, runtime["id"], 1)
    response = await api.post(f"/api/runtimes/{runtime['id']}/restart", headers=account.headers)
    assert response.json() == {"message": "Runtime restarting"}
    second = await wait_status(api, account, runtime["id"], {"running"})
    runs = await wait_output(api, account, runtime["id"], 2)
    assert len(runs) == 2 and runs[0] != runs[1]
    assert second["started_at"] > first["started_at"]
    await api.post(f"/api/runtimes/{runtime['id']}/stop", headers=account.headers)


async def test_each_start_runs_the_files_as_they_are_at_that_start(
    api: httpx.AsyncClient, account: Account
) -> None:
    code = "import os\nprint(open('extra.txt').read() if os.path.exists('extra.txt') else 'none')\n"
    runtime = await make_runtime(api, account, code, extra_files={"extra.txt": "one"})
    files = f"/api/projects/{runtime['project_id']}/files"

    async def run() -> list[str]:
        before = len(await logs(api, account, runtime["id"]))
        await start(api, account, runtime["id"])
        done = await wait_status(api, account, runtime["id"], FINAL)
        assert done["status"] == "completed", done
        return output((await logs(api, account, runtime["id"]))[before:])

    assert await run() == ["one"]
    assert await run() == ["one"]  # the same files again
    put = await api.put(f"{files}/extra.txt", json={"content": "two"}, headers=account.headers)
    assert put.status_code == 200, put.text
    assert await run() == ["two"]
    gone = await api.delete(f"{files}/extra.txt", headers=account.headers)
    assert gone.status_code == 200, gone.text
    assert await run() == ["none"]
    put = await api.put(f"{files}/extra.txt", json={"content": "one"}, headers=account.headers)
    assert put.status_code == 200, put.text
    assert await run() == ["one"]


async def test_env_arrives_and_server_secrets_do_not(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    data_dir = stack.env["NEURONEST_DATA_DIR"]
    code = (
        "import os, json\n"
        "print(json.dumps(dict(os.environ)))\n"
        f"for path in ['{data_dir}', '{data_dir}/secret_key', '{data_dir}/neuronest.sqlite3',"
        " '/etc/shadow']:\n"
        "    try:\n"
        "        open(path).read(); print('READ', path)\n"
        "    except Exception as e:\n"
        "        print('DENIED', path)\n"
        "try:\n"
        "    init_env = open('/proc/1/environ').read()\n"
        "except OSError:\n"
        "    init_env = ''\n"
        "print('INIT', 'NEURONEST' in init_env)\n"
        "print('uid', os.getuid())\n"
    )
    final, lines = await run_to_end(api, account, code, env={"API_KEY": "your-api-key"})
    assert final["status"] == "completed", (final, lines)
    import json

    out = output(lines)
    env = json.loads(out[0])
    assert env["API_KEY"] == "your-api-key"
    assert "PORT" in env
    assert not any(k.startswith("NEURONEST_") for k in env)
    assert stack.env["NEURONEST_SECRET_KEY"] not in out[0]
    assert not any(line.startswith("READ") for line in out), out
    assert "INIT False" in out
    assert out[-1] != "uid 0"


async def test_hostile_programs_are_contained(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    programs = {
        "fork bomb": (
            "import os\nwhile True:\n    try:\n        os.fork()\n"
            "    except OSError:\n        pass\n"
        ),
        "memory hog": "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))\n",
        "disk filler": (
            "chunk = b'x' * (1024 * 1024)\n"
            "with open('fill.bin', 'wb') as f:\n"
            "    for _ in range(100_000):\n"
            "        f.write(chunk)\n"
        ),
    }
    for name, code in programs.items():
        final, _ = await run_to_end(api, account, code, timeout=20)
        assert final["status"] in {"failed", "timeout"}, (name, final)
        health = await api.get("/healthz")
        assert health.status_code == 200, name


async def test_a_gigabyte_of_output_is_capped(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    code = (
        "import sys\nline = 'y' * 1023 + '\\n'\nblock = line * 1024\n"
        "for _ in range(1024):\n    sys.stdout.write(block)\n"
    )
    final, _ = await run_to_end(api, account, code, timeout=300)
    assert final["status"] == "completed", final
    system = output(await logs(api, account, final["id"], limit=10), "system")
    assert any("dropped" in line for line in system), system
    assert (await api.get("/healthz")).status_code == 200


async def test_other_users_get_404(api: httpx.AsyncClient, account: Account) -> None:
    runtime = await make_runtime(api, account, "print(1)")
    intruder = await register(api)
    rid, pid = runtime["id"], runtime["project_id"]
    attempts = [
        ("GET", f"/api/runtimes/{rid}", None),
        ("PUT", f"/api/runtimes/{rid}", {"timeout": 5}),
        ("DELETE", f"/api/runtimes/{rid}", None),
        ("POST", f"/api/runtimes/{rid}/start", None),
        ("POST", f"/api/runtimes/{rid}/stop", None),
        ("POST", f"/api/runtimes/{rid}/restart", None),
        ("GET", f"/api/runtimes/{rid}/logs", None),
        ("GET", f"/api/projects/{pid}", None),
        ("GET", f"/api/projects/{pid}/files/main.py", None),
        ("PUT", f"/api/projects/{pid}/files/x.py", {"content": "x"}),
        ("DELETE", f"/api/projects/{pid}", None),
    ]
    for method, path, body in attempts:
        response = await api.request(method, path, json=body, headers=intruder.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert (await api.get("/api/runtimes", headers=intruder.headers)).json() == []
    create = await api.post(
        "/api/runtimes",
        json={"project_id": pid, "language": "python", "entry_point": "main.py"},
        headers=intruder.headers,
    )
    assert create.status_code == 404
    mine = (await api.get(f"/api/runtimes/{rid}", headers=account.headers)).json()
    assert mine["status"] == "created" and mine["timeout"] == 60


async def test_delete_removes_runtime_and_logs(api: httpx.AsyncClient, account: Account) -> None:
    runtime = await make_runtime(
        api, account, "import time\nprint('x', flush=True)\ntime.sleep(600)\n"
    )
    await start(api, account, runtime["id"])
    await wait_status(api, account, runtime["id"], {"running"})
    response = await api.delete(f"/api/runtimes/{runtime['id']}", headers=account.headers)
    assert response.json() == {"message": "Runtime deleted successfully"}
    gone = await api.get(f"/api/runtimes/{runtime['id']}", headers=account.headers)
    assert gone.status_code == 404
    assert (
        await api.get(f"/api/runtimes/{runtime['id']}/logs", headers=account.headers)
    ).status_code == 404


async def test_variables_are_an_object_over_rest_and_name_value_pairs_over_graphql(
    api: httpx.AsyncClient, account: Account
) -> None:
    given = {"WORKERS": 4, "DEBUG": True, "RATIO": 0.5, "NAME": "x"}
    runtime = await make_runtime(api, account, "print(1)", env=given)
    expected = {"WORKERS": "4", "DEBUG": "true", "RATIO": "0.5", "NAME": "x"}
    assert runtime["environment_vars"] == expected
    path = f"/api/runtimes/{runtime['id']}"
    nested = {"environment_vars": {"NESTED": {"a": 1}}}
    refused = await api.put(path, json=nested, headers=account.headers)
    assert refused.status_code == 422, refused.text
    assert refused.json() == {"detail": "environment_vars: NESTED must be a string"}

    query = "query($id: ID!) { runtime(runtimeId: $id) { environmentVars { name value } } }"
    shown = await gql(api, query, {"id": runtime["id"]}, account.token)
    pairs = shown["data"]["runtime"]["environmentVars"]
    assert sorted(pairs, key=lambda pair: pair["name"]) == [
        {"name": name, "value": expected[name]} for name in sorted(expected)
    ]
    update = (
        "mutation($id: ID!, $env: [EnvironmentVariableInput!]) { updateRuntime(runtimeId: $id, "
        "input: {environmentVars: $env}) { environmentVars { name value } } }"
    )
    twice = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    doubled = await gql(api, update, {"id": runtime["id"], "env": twice}, account.token)
    assert doubled["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", doubled
    assert doubled["errors"][0]["message"] == "environment_vars: A is given twice"
    kept = await api.get(path, headers=account.headers)
    assert kept.json()["environment_vars"] == expected
