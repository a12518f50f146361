"""The bench's peers answer what they are compared on, and refuse what they should.

The `/users/me` peer must read the very user our `GET /api/auth/me` reads, from the same token,
and refuse a forged one, or its req/s would compare unequal work. The Celery peer must really run
its tasks on the worker (results come back, all of them).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from bench.server import Server, call
from tests.harness import fresh_database

DATABASE_URL = os.environ.get("NEURONEST_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("NEURONEST_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(
    not DATABASE_URL or not REDIS_URL,
    reason="NEURONEST_TEST_DATABASE_URL / NEURONEST_TEST_REDIS_URL not set (make test)",
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    assert REDIS_URL is not None
    server = Server(
        database_url=fresh_database(DATABASE_URL or ""),
        redis_url=REDIS_URL,
        data_dir=tmp_path_factory.mktemp("peer"),
        bcrypt_rounds=4,
    )
    peer = server.peer()
    try:
        server.start()
        peer.start()
        yield server, peer
    finally:
        peer.stop()
        server.stop()


def register(server: Server) -> tuple[str, str]:
    email = f"peer-{uuid.uuid4().hex[:8]}@example.com"
    reply = call(
        server.url + "/api/auth/register",
        "POST",
        {"email": email, "password": "peer-pass-1", "name": "Peer"},
    )
    assert reply.status == 201, reply.body
    return email, reply.body["access_token"]


def test_users_peer_serves_the_same_user_and_refuses_a_forged_token(
    servers: tuple[Server, Server],
) -> None:
    server, peer = servers
    email, token = register(server)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-server-secret-" + "x" * 32, algorithm="HS256")

    refused = call(peer.url + "/users/me", token=forged)
    assert refused.status == 401
    assert call(peer.url + "/users/me").status in (401, 403)  # no credentials at all

    ours = call(server.url + "/api/auth/me", token=token)
    theirs = call(peer.url + "/users/me", token=token)
    assert ours.status == theirs.status == 200
    assert {k: theirs.body[k] for k in ("id", "email", "name", "is_active")} == {
        k: ours.body[k] for k in ("id", "email", "name", "is_active")
    }
    assert theirs.body["email"] == email


def test_users_peer_refuses_a_token_of_an_earlier_password(servers: tuple[Server, Server]) -> None:
    server, peer = servers
    _, old = register(server)
    changed = call(
        server.url + "/api/auth/change-password",
        "PUT",
        {"current_password": "peer-pass-1", "new_password": "peer-pass-2"},
        token=old,
    )
    assert changed.status == 200, changed.body
    assert call(peer.url + "/users/me", token=old).status == 401
    assert call(server.url + "/api/auth/me", token=old).status == 401
    _, fresh = register(server)
    assert call(peer.url + "/users/me", token=fresh).status == 200


def test_celery_peer_runs_every_task_on_its_worker(tmp_path: Path) -> None:
    from bench.peers import celery_app

    assert REDIS_URL is not None
    worker = celery_app.CeleryWorker(REDIS_URL, tmp_path / "celery.log")
    try:
        worker.start()
        assert celery_app.dispatch_once() > 0
        total_s, sent_s = celery_app.throughput(50)  # raises on a wrong or missing result
        assert total_s >= sent_s > 0
        assert worker.cpu_seconds() > 0
    finally:
        worker.stop()
    assert worker.process is None
