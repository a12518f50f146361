"""The console's flows end to end in Chromium, as a person would click through them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import PASSWORD, Console


async def graphql(console: Console, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=console.origin, timeout=30) as client:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
    return dict(response.json())


async def stored_token(console: Console) -> str | None:
    token: str | None = await console.page.evaluate("localStorage.getItem('neuronest.token')")
    return token


async def test_sign_up_sign_in_and_sign_out(console: Console) -> None:
    page = console.page
    await console.goto("/")
    await page.locator("form[aria-label='Sign in']").wait_for()
    await console.screenshot("sign-in")

    email = await console.sign_up("Ada Console")
    await page.locator("header .me", has_text=email).wait_for()
    token = await stored_token(console)
    assert token
    # A reload keeps the session: the token lives in localStorage.
    await page.reload()
    await page.locator("header .me", has_text=email).wait_for()

    await page.click("text=Sign out")
    await page.locator("form[aria-label='Sign in']").wait_for()
    assert await stored_token(console) is None
    # Signing out revoked the token on the server, not only in the browser.
    after = await graphql(console, "{ me { email } }", token)
    assert after["errors"], after

    # A wrong password: the page shows what the API says.
    said = await graphql(
        console,
        f'mutation {{ login(input: {{email: "{email}", password: "wrong-pass"}}) '
        "{ accessToken } }",
    )
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", "wrong-pass")
    await page.click("button[type=submit]")
    alert = page.locator("[role=alert]")
    await alert.wait_for()
    assert await alert.inner_text() == said["errors"][0]["message"]

    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.locator("header .me", has_text=email).wait_for()
    assert await stored_token(console) not in (None, token)
