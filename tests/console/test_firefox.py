"""The console's main flows in Firefox (Debian's ESR, headless, over WebDriver BiDi): the same
pages, live subscriptions and layout as in Chromium."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from tests.console.conftest import FLOOD, PASSWORD, READ_LOG, SCREENSHOTS, debian_browser
from tests.console.firefox import FIREFOX, Page, firefox_page
from tests.harness import Stack


@pytest.fixture
async def firefox(console_stack: Stack) -> AsyncIterator[Page]:
    async with firefox_page(debian_browser(FIREFOX)) as page:
        await page.set_viewport(1280, 860)
        yield page
        own = urlsplit(console_stack.url).netloc
        foreign = [u for u in page.requested if urlsplit(u).netloc not in (own, "")]
        assert foreign == [], f"the console reached beyond its server: {foreign}"


def heading(text: str) -> str:
    return (
        "[...document.querySelectorAll('h1')]"
        f".some(h => h.textContent.includes({json.dumps(text)}))"
    )


async def sign_up(page: Page, stack: Stack) -> None:
    await page.goto(stack.url + "/signup")
    await page.wait_for("!!document.querySelector('input[name=email]')")
    await page.fill("input[name=name]", "Fox User")
    await page.fill("input[name=email]", f"firefox-{uuid.uuid4().hex[:10]}@example.com")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for(heading("Projects"))


async def new_project_with_file(page: Page, name: str, content: str) -> None:
    await page.fill("form[aria-label='New project'] input[name=name]", name)
    await page.click("form[aria-label='New project'] button[type=submit]")
    await page.wait_for(heading(name))
    await page.fill("form[aria-label='New file'] input[name=path]", "main.py")
    await page.click("form[aria-label='New file'] button[type=submit]")
    await page.wait_for("!!document.querySelector('textarea[name=content]')")
    await page.fill("textarea[name=content]", content)
    await page.click(".editor button", "Save")
    await page.wait_for(
        "[...document.querySelectorAll('[role=status]')]"
        ".some(e => e.textContent.includes('Saved main.py'))"
    )


async def test_runtime_logs_stream_live_in_firefox(firefox: Page, console_stack: Stack) -> None:
    await sign_up(firefox, console_stack)
    await new_project_with_file(firefox, "Fox flood", FLOOD)
    await firefox.fill("form[aria-label='New runtime'] input[name=entryPoint]", "main.py")
    await firefox.click("form[aria-label='New runtime'] button[type=submit]")
    status = "document.querySelector('[data-testid=runtime-status]')?.textContent ?? ''"
    await firefox.wait_for(f"({status}).includes('created')")

    await firefox.click(".page-head button", "Start")
    # While the program runs (it sleeps after printing), the view has all 2,000 lines, in order.
    await firefox.wait_for(
        "parseInt(document.querySelector('[data-testid=log-count]')?.textContent ?? '0') >= 2001",
        timeout=90,
    )
    assert "running" in await firefox.evaluate(status)
    shown = await firefox.evaluate(f"({READ_LOG})()")
    stdout = [text for _, _, kind, text in shown if kind == "log-stdout"]
    assert stdout == [f"line {i:04d}" for i in range(1, 2001)]
    await firefox.screenshot(SCREENSHOTS / "firefox-runtime.png")

    await firefox.click(".page-head button", "Stop")
    await firefox.wait_for(f"({status}).includes('stopped')")


async def test_diamond_workflow_turns_completed_in_firefox(
    firefox: Page, console_stack: Stack
) -> None:
    await sign_up(firefox, console_stack)
    await firefox.click("header.top nav a", "Workflows")
    await firefox.wait_for(heading("Workflows"))
    await firefox.fill("form[aria-label='New workflow'] input[name=name]", "Fox diamond")
    await firefox.click("form[aria-label='New workflow'] button[type=submit]")
    await firefox.wait_for("document.querySelectorAll('svg.dag g.node').length === 4")
    # The status of every node each time the drawing changes (the page is not reloaded).
    await firefox.evaluate(
        """(() => { window.__states = [];
        const record = () => {
            const nodes = [...document.querySelectorAll('svg.dag g.node')];
            const state = Object.fromEntries(nodes.map(n => [n.dataset.step, n.dataset.status]));
            const last = window.__states[window.__states.length - 1];
            if (JSON.stringify(state) !== JSON.stringify(last)) window.__states.push(state);
        };
        record();
        new MutationObserver(record).observe(document, {subtree: true, childList: true,
            attributes: true});
        return true; })()"""
    )
    await firefox.click("form[aria-label='Run workflow'] button[type=submit]")
    await firefox.wait_for(
        "(document.querySelector('[data-testid=run-status]')?.textContent ?? '')"
        ".includes('completed')",
        timeout=120,
    )
    states: list[dict[str, str]] = await firefox.evaluate("window.__states")
    steps = ["a", "b", "c", "d"]
    assert states[0] == dict.fromkeys(steps, "pending"), states
    assert states[-1] == dict.fromkeys(steps, "completed"), states
    assert any(s["b"] == "running" and s["c"] == "running" for s in states), states
    await firefox.screenshot(SCREENSHOTS / "firefox-workflow.png")


async def test_narrow_screen_in_firefox(firefox: Page, console_stack: Stack) -> None:
    await firefox.set_viewport(390, 844)
    await sign_up(firefox, console_stack)
    await new_project_with_file(firefox, "Fox pocket", "print('small')\n")
    for title in ("Fox pocket", "Projects"):
        if title == "Projects":
            await firefox.click("header.top nav a", "Projects")
        await firefox.wait_for(heading(title))
        await firefox.wait_for("!!document.querySelector('.list li, .tree .file')")
        # Nothing is wider than the screen: no sideways scrolling.
        wide = await firefox.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, (title, wide)
    await firefox.screenshot(SCREENSHOTS / "firefox-narrow.png")
