"""The API serves the built console at `/` without changing what its own paths answer."""

from __future__ import annotations

import re

import httpx

from tests.harness import Stack


async def test_console_pages_and_assets_are_served(console_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=console_stack.url, timeout=30) as client:
        index = await client.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert '<div id="app">' in index.text
        # Client routes are the console's pages: the same document.
        for path in ("/projects", "/runtimes/5b1c", "/signup"):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.text == index.text
        # Every script and stylesheet comes from the server itself.
        assets = re.findall(r'(?:src|href)="([^"]+)"', index.text)
        assert [a for a in assets if not a.startswith(("/", "data:"))] == []
        for asset in (a for a in assets if a.startswith("/assets/")):
            response = await client.get(asset)
            assert response.status_code == 200, asset
            assert "immutable" in response.headers["cache-control"]
        missing = await client.get("/assets/nothing-here.js")
        assert missing.status_code == 404


async def test_api_paths_answer_as_before(console_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=console_stack.url, timeout=30) as client:
        unknown = await client.get("/api/no-such-route")
        assert unknown.status_code == 404
        assert unknown.json() == {"detail": "Not Found"}
        wrong_method = await client.get("/api/auth/login")
        assert wrong_method.status_code == 405
        assert (await client.post("/projects")).status_code == 404
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/openapi.json")).json()["info"]["title"] == "NeuroNest"
        graphiql = await client.get("/graphql", headers={"accept": "text/html"})
        assert graphiql.status_code == 200
        assert '<div id="app">' not in graphiql.text
