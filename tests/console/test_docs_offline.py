"""`/docs` (Swagger UI) and `/graphql` (GraphiQL) in Chromium with the network cut off: the browser
may reach the server and nothing else (the `console` fixture refuses and records every other host,
and fails the test if there was one). Both pages render from the installation's own files and work
against the server."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from playwright.async_api import expect

from tests.conftest import register
from tests.console.conftest import Console

# For what waits on the server (expect's own default is 5 s).
WAIT = 30_000


def own_paths(console: Console) -> set[str]:
    """The paths the page asked of the server; and it asked no one else."""
    own = urlsplit(console.origin).netloc
    assert console.refused == []
    assert [url for url in console.requested if urlsplit(url).netloc != own] == []
    return {urlsplit(url).path for url in console.requested}


async def test_swagger_ui_renders_offline_and_calls_the_api_with_a_token(
    console: Console,
) -> None:
    page = console.page
    await console.goto("/docs")
    me = page.locator("#operations-auth-getMe")
    await me.wait_for()
    for operation in ("auth-register", "projects-listProjects", "runtimes-createRuntime"):
        await page.locator(f"#operations-{operation}").wait_for()
    assert {"/openapi.json"} <= own_paths(console)
    assert any(path.endswith("/swagger-ui-bundle.js") for path in own_paths(console))

    # "Authorize" knows the bearer scheme of the document; with a token given there, "Try it out"
    # on getMe answers with the account.
    async with httpx.AsyncClient(base_url=console.origin, timeout=30) as api:
        account = await register(api, "Swagger User")
    await page.click("button.authorize")
    dialog = page.locator(".dialog-ux .modal-ux")
    await expect(dialog).to_contain_text("bearerAuth")
    await expect(dialog).to_contain_text("Bearer")
    await dialog.locator("input").fill(account.token)
    await dialog.locator("button.authorize").click()
    await dialog.locator("button.btn-done").click()
    await dialog.wait_for(state="hidden")

    await me.locator(".opblock-summary").first.click()
    await me.locator("button.try-out__btn").click()
    await me.locator("button.execute").click()
    answer = me.locator(".live-responses-table tbody tr.response")
    await expect(answer.locator(".response-col_status")).to_have_text("200", timeout=WAIT)
    await expect(answer.locator(".response-col_description")).to_contain_text(account.email)
    assert "/api/auth/me" in own_paths(console)
    await console.screenshot("docs-swagger-ui")


async def test_graphiql_renders_offline_and_runs_a_query(console: Console) -> None:
    page = console.page
    await console.goto("/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    await editor.wait_for()
    assert any(path.endswith("/graphiql.min.js") for path in own_paths(console))

    # Typed as a person would: clear the starter text, then the query.
    await editor.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    await page.keyboard.type("{ __typename }")
    await expect(editor).to_contain_text("{ __typename }")
    await page.click("button.graphiql-execute-button")
    result = page.locator(".graphiql-response .CodeMirror")
    await expect(result).to_contain_text('"__typename": "Query"', timeout=WAIT)
    assert "/graphql" in own_paths(console)
    await console.screenshot("docs-graphiql")
