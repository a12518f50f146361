from __future__ import annotations

import base64

import httpx

from tests.conftest import Account


async def test_project_crud_and_pagination(api: httpx.AsyncClient, account: Account) -> None:
    created = []
    for n in range(3):
        response = await api.post(
            "/api/projects", json={"name": f"p{n}", "description": "d"}, headers=account.headers
        )
        assert response.status_code == 201
        created.append(response.json())
    assert set(created[0]) == {"id", "user_id", "name", "description", "created_at", "updated_at"}
    listed = (await api.get("/api/projects", headers=account.headers)).json()
    assert [p["name"] for p in listed] == ["p2", "p1", "p0"]
    page = await api.get("/api/projects", params={"limit": 1, "offset": 1}, headers=account.headers)
    assert [p["name"] for p in page.json()] == ["p1"]
    too_many = await api.get("/api/projects", params={"limit": 5000}, headers=account.headers)
    assert too_many.status_code == 422
    pid = created[0]["id"]
    updated = await api.put(
        f"/api/projects/{pid}", json={"name": "renamed"}, headers=account.headers
    )
    assert updated.json()["name"] == "renamed" and updated.json()["description"] == "d"
    assert (
        await api.put(f"/api/projects/{pid}", json={"name": ""}, headers=account.headers)
    ).status_code == 422
    deleted = await api.delete(f"/api/projects/{pid}", headers=account.headers)
    assert deleted.json() == {"message": "Project deleted successfully"}
    assert (await api.get(f"/api/projects/{pid}", headers=account.headers)).status_code == 404
    assert (await api.get("/api/projects/not-a-uuid", headers=account.headers)).status_code == 404


async def test_files_text_and_base64(api: httpx.AsyncClient, account: Account) -> None:
    pid = (await api.post("/api/projects", json={"name": "f"}, headers=account.headers)).json()[
        "id"
    ]
    text = await api.put(
        f"/api/projects/{pid}/files/src/app/main.py",
        json={"content": "print('hé')\n"},
        headers=account.headers,
    )
    assert text.status_code == 200
    assert text.json()["path"] == "src/app/main.py"
    assert text.json()["size"] == len("print('hé')\n".encode())
    blob = bytes(range(256))
    binary = await api.put(
        f"/api/projects/{pid}/files/data.bin",
        json={"content": base64.b64encode(blob).decode(), "encoding": "base64"},
        headers=account.headers,
    )
    assert binary.status_code == 200 and binary.json()["size"] == 256
    got = (await api.get(f"/api/projects/{pid}/files/data.bin", headers=account.headers)).json()
    assert got["encoding"] == "base64" and base64.b64decode(got["content"]) == blob
    got_text = (
        await api.get(f"/api/projects/{pid}/files/src/app/main.py", headers=account.headers)
    ).json()
    assert got_text == {
        "path": "src/app/main.py",
        "content": "print('hé')\n",
        "encoding": "text",
        "size": 13,
    }
    files = (await api.get(f"/api/projects/{pid}/files", headers=account.headers)).json()
    assert [f["path"] for f in files] == ["data.bin", "src/app/main.py"]
    removed = await api.delete(f"/api/projects/{pid}/files/data.bin", headers=account.headers)
    assert removed.status_code == 200
    assert (
        await api.get(f"/api/projects/{pid}/files/data.bin", headers=account.headers)
    ).status_code == 404


async def test_bad_paths_and_sizes_are_422(api: httpx.AsyncClient, account: Account) -> None:
    pid = (await api.post("/api/projects", json={"name": "f"}, headers=account.headers)).json()[
        "id"
    ]
    await api.put(
        f"/api/projects/{pid}/files/dir/a.py", json={"content": "1"}, headers=account.headers
    )
    for path in [
        "a/%2E%2E/%2E%2E/etc/passwd",  # encoded, or the client would normalise the dots away
        "%2E/x.py",
        "a//b.py",
        "dir",
        "dir/a.py/inner",
        "%2E%2E",
        "a%5Cb",
    ]:
        response = await api.put(
            f"/api/projects/{pid}/files/{path}", json={"content": "x"}, headers=account.headers
        )
        assert response.status_code in (404, 422), (path, response.text)
        if response.status_code == 422:
            assert "path" in response.json()["detail"]
    bad_base64 = await api.put(
        f"/api/projects/{pid}/files/x.bin",
        json={"content": "%%%", "encoding": "base64"},
        headers=account.headers,
    )
    assert bad_base64.status_code == 422
    bad_encoding = await api.put(
        f"/api/projects/{pid}/files/x.bin",
        json={"content": "a", "encoding": "zip"},
        headers=account.headers,
    )
    assert bad_encoding.status_code == 422
    huge = await api.put(
        f"/api/projects/{pid}/files/big.txt",
        json={"content": "x" * (1024 * 1024 + 1)},
        headers=account.headers,
    )
    assert huge.status_code == 422
    assert "limit" in huge.json()["detail"]
    files = (await api.get(f"/api/projects/{pid}/files", headers=account.headers)).json()
    assert [f["path"] for f in files] == ["dir/a.py"]
