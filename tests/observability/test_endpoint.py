"""Who may scrape /metrics: everyone by default, scrapers with the token when one is set."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.requests import Request

from neuronest.config import Settings
from neuronest.observability.endpoint import refusal
from neuronest.observability.metrics import model_family
from tests.conftest import Mailbox, start_stack
from tests.llm.fake_llm import FakeLLM


def request(authorization: str | None = None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request({"type": "http", "method": "GET", "path": "/metrics", "headers": headers})


def status(settings: Settings, authorization: str | None = None) -> int | None:
    refused = refusal(settings, request(authorization))
    return None if refused is None else refused.status_code


def test_metrics_are_open_unless_a_token_or_off_says_otherwise() -> None:
    assert status(Settings(metrics=True)) is None
    assert status(Settings(metrics=False)) == 404
    guarded = Settings(metrics_token="scrape-token-123")
    assert status(guarded) == 401
    assert status(guarded, "Bearer wrong") == 401
    assert status(guarded, "Basic scrape-token-123") == 401
    assert status(guarded, "Bearer scrape-token-123") is None
    assert refusal(guarded, request()).headers["www-authenticate"].startswith("Bearer")


def test_model_names_become_a_few_families() -> None:
    assert model_family("gpt-4o-mini") == "gpt"
    assert model_family("claude-sonnet-4") == "claude"
    assert model_family("hf.co/org/Llama-3-8B:Q4_K_M") == "llama"
    assert model_family("my-private-fine-tune-of-anything") == "other"


def test_a_server_with_a_token_serves_metrics_only_to_its_scrapers(
    tmp_path: Path, mailbox: Mailbox, llm: FakeLLM
) -> None:
    stack = start_stack("embedded", tmp_path, mailbox, llm, NEURONEST_METRICS_TOKEN="scrape-me-42")
    try:
        assert httpx.get(f"{stack.url}/metrics").status_code == 401
        wrong = httpx.get(f"{stack.url}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = httpx.get(f"{stack.url}/metrics", headers={"Authorization": "Bearer scrape-me-42"})
        assert right.status_code == 200 and "neuronest_http_requests_total" in right.text
    finally:
        stack.stop()
