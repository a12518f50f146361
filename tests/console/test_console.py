"""The console's flows end to end in Chromium, as a person would click through them."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import expect

from tests.console.conftest import FLOOD, PASSWORD, READ_LOG, Console
from tests.llm.fake_llm import FakeLLM, slow_text


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
    second = await stored_token(console)
    assert second not in (None, token)

    # The session ends elsewhere: the next page the console loads sends the user to sign in.
    await graphql(console, "mutation { logout { message } }", second)
    refused = await graphql(console, "{ me { email } }", second)
    await page.click("header.top nav >> text=Tasks")
    notice = page.locator("form[aria-label='Sign in'] [role=status]")
    await expect(notice).to_have_text(f"{refused['errors'][0]['message']} Please sign in again.")
    assert await stored_token(console) is None


async def create_project(console: Console, name: str) -> None:
    page = console.page
    await page.fill("form[aria-label='New project'] input[name=name]", name)
    await page.fill("form[aria-label='New project'] input[name=description]", "made in the console")
    await page.click("form[aria-label='New project'] button[type=submit]")
    await page.locator("h1", has_text=name).wait_for()


async def write_file(console: Console, path: str, content: str) -> None:
    page = console.page
    await page.fill("form[aria-label='New file'] input[name=path]", path)
    await page.click("form[aria-label='New file'] button[type=submit]")
    await page.fill("textarea[name=content]", content)
    await page.click(".editor >> text=Save")
    await page.locator("[role=status]", has_text=f"Saved {path}").wait_for()


async def test_create_a_project_and_edit_a_file(console: Console) -> None:
    page = console.page
    await console.sign_up()
    await create_project(console, "Notebook")
    await write_file(console, "src/app.py", "print('first')\n")
    await write_file(console, "README.md", "# Notebook\n")
    # The tree shows the folder and both files; an open file is edited and saved again.
    await page.locator(".tree .dir", has_text="src/").wait_for()
    await page.click(".tree button[data-path='src/app.py']")
    textarea = page.locator("textarea[name=content]")
    await expect(textarea).to_have_value("print('first')\n")
    await textarea.fill("print('second')\n")
    await page.click(".editor >> text=Save")
    await page.locator("[role=status]", has_text="Saved src/app.py").wait_for()
    await console.screenshot("project")

    # What was saved is what the API has: a fresh page reads it back.
    await page.reload()
    await page.click(".tree button[data-path='src/app.py']")
    await expect(textarea).to_have_value("print('second')\n")

    await console.nav("Projects")
    await page.locator("[data-testid=projects] li", has_text="Notebook").wait_for()
    await console.screenshot("projects")


async def test_runtime_log_keeps_up_with_a_flood(console: Console) -> None:
    page = console.page
    await console.sign_up()
    await create_project(console, "Flood")
    await write_file(console, "main.py", FLOOD)
    await page.fill("form[aria-label='New runtime'] input[name=entryPoint]", "main.py")
    await page.click("form[aria-label='New runtime'] button[type=submit]")
    status = page.locator("[data-testid=runtime-status]")
    await status.locator("text=created").wait_for()

    await page.click(".page-head >> text=Start")
    # While the program runs (it sleeps after printing), the view has all 2,000 lines.
    count = page.locator("[data-testid=log-count]")
    await page.wait_for_function(
        "parseInt(document.querySelector('[data-testid=log-count]').textContent) >= 2001",
        timeout=90_000,
    )
    await expect(count).to_contain_text("following")
    await status.locator("text=running").wait_for()
    # It follows the tail: the last line is in sight.
    await expect(page.locator(".log .log-stdout").last).to_have_text("line 2000")
    assert await page.locator(".log .log-stdout").last.is_visible()
    # Only the lines in sight are in the page; scrolling from the top shows every line, in order.
    assert await page.locator(".log .line").count() < 200
    shown: list[list[Any]] = await page.evaluate(READ_LOG)
    stdout = [text for _, _, kind, text in shown if kind == "log-stdout"]
    assert stdout == [f"line {i:04d}" for i in range(1, 2001)]
    seqs = [seq for _, seq, _, _ in shown]
    assert seqs == sorted(set(seqs))
    await console.screenshot("runtime")

    # Back at the bottom it follows again: the server's line about the stop comes into sight.
    await page.click(".page-head >> text=Stop")
    await status.locator("text=stopped").wait_for()
    last = page.locator(".log .line").last
    await expect(last).to_have_class(re.compile(r"\blog-system\b"))
    assert await last.is_visible()
    # Scrolled up, it stays where the reader is until Follow.
    await page.eval_on_selector(".log", "box => { box.scrollTop = 0; }")
    await expect(count).not_to_contain_text("following")
    await expect(page.locator(".log .line").first).to_be_visible()
    await page.get_by_role("button", name="Follow").click()
    await expect(count).to_contain_text("following")
    assert await last.is_visible()
    colours = await page.evaluate(
        """() => ['.log-system', '.log-stdout'].map(
            s => getComputedStyle(document.querySelector('.log ' + s)).color)"""
    )
    assert colours[0] != colours[1]


async def test_text_task_streams_piece_by_piece(console: Console, fake_llm: FakeLLM) -> None:
    answer = "Streams arrive piece by piece, as the model writes them."
    fake_llm.script(slow_text(answer, delay=0.1, chunk=4))
    page = console.page
    # Every text the output shows, in order, as the page changes it.
    await page.add_init_script(
        """window.__seen = [];
        new MutationObserver(() => {
            const out = document.querySelector('[data-testid=task-text]');
            const text = out ? out.textContent : null;
            if (text && text !== window.__seen[window.__seen.length - 1]) window.__seen.push(text);
        }).observe(document, {subtree: true, childList: true, characterData: true});"""
    )
    await console.sign_up()
    await console.nav("Tasks")
    await page.fill("textarea[name=prompt]", "Tell me how streams arrive.")
    await page.click("form[aria-label='New task'] button[type=submit]")
    await page.locator("[data-testid=task-status]", has_text="completed").wait_for()
    await page.locator("[data-testid=task-text]", has_text=answer).wait_for()
    seen: list[str] = await page.evaluate("window.__seen")
    assert seen[-1] == answer
    partial = [text for text in seen if text != answer]
    assert len(partial) >= 3, seen
    assert all(answer.startswith(text) for text in partial), seen
    await console.screenshot("task")
    await console.nav("Tasks")
    await console.screenshot("tasks")


async def test_diamond_workflow_nodes_turn_completed(console: Console) -> None:
    page = console.page
    # The status of every node each time the drawing changes.
    await page.add_init_script(
        """window.__states = [];
        new MutationObserver(() => {
            const nodes = [...document.querySelectorAll('svg.dag g.node')];
            if (!nodes.length) return;
            const state = Object.fromEntries(nodes.map(n => [n.dataset.step, n.dataset.status]));
            const last = window.__states[window.__states.length - 1];
            if (JSON.stringify(state) !== JSON.stringify(last)) window.__states.push(state);
        }).observe(document, {subtree: true, childList: true, attributes: true});"""
    )
    await console.sign_up()
    await console.nav("Workflows")
    # The form starts with a diamond: a, then b and c side by side, then d.
    await page.fill("form[aria-label='New workflow'] input[name=name]", "Diamond")
    await page.click("form[aria-label='New workflow'] button[type=submit]")
    await page.locator("h1", has_text="Diamond").wait_for()
    await page.locator("svg.dag g.node").nth(3).wait_for()
    await page.click("form[aria-label='Run workflow'] button[type=submit]")
    await page.locator("[data-testid=run-status]", has_text="completed").wait_for(timeout=120_000)
    await page.locator("[data-testid=run-result]").wait_for()
    await console.screenshot("workflow")

    states: list[dict[str, str]] = await page.evaluate("window.__states")
    steps = ["a", "b", "c", "d"]
    assert states[0] == dict.fromkeys(steps, "pending"), states
    assert states[-1] == dict.fromkeys(steps, "completed"), states
    # The two branches ran at the same time: once, both were running.
    assert any(s["b"] == "running" and s["c"] == "running" for s in states), states
    for step in steps:
        seen = [s[step] for s in states]
        assert seen.index("completed") > seen.index("pending"), (step, seen)
    fill = await page.eval_on_selector(
        "svg.dag g.node[data-step=d] rect", "rect => getComputedStyle(rect).fill"
    )
    pending_fill = await page.evaluate(
        """() => { const g = document.createElementNS('http://www.w3.org/2000/svg', 'g');
        g.setAttribute('class', 'node status-pending');
        const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect'); g.appendChild(r);
        document.querySelector('svg.dag').appendChild(g);
        const fill = getComputedStyle(r).fill; g.remove(); return fill; }"""
    )
    assert fill != pending_fill


async def test_agents_and_memories(console: Console) -> None:
    page = console.page
    await console.sign_up()
    await console.nav("Agents")
    form = "form[aria-label='New agent']"
    # A configuration the API refuses: the page shows the API's own message.
    await page.fill(f"{form} input[name=name]", "Poet")
    await page.fill(f"{form} textarea[name=configuration]", '{"temperature": 7}')
    await page.click(f"{form} button[type=submit]")
    alert = page.locator("[role=alert]")
    await alert.wait_for()
    token = await stored_token(console)
    said = await graphql(
        console,
        'mutation { createAgent(input: {name: "Poet", configuration: {temperature: 7}}) { id } }',
        token,
    )
    assert await alert.inner_text() == said["errors"][0]["message"]
    await page.fill(f"{form} textarea[name=configuration]", '{"temperature": 0.5}')
    await page.click(f"{form} button[type=submit]")
    await page.locator(".list li", has_text="Poet").wait_for()
    await console.screenshot("agents")

    await console.nav("Memories")
    await page.fill("form[aria-label='New memory'] input[name=name]", "Garden")
    await page.click("form[aria-label='New memory'] button[type=submit]")
    await page.locator("h1", has_text="Garden").wait_for()
    for text in ("Tomatoes need sun", "Basil likes water"):
        await page.fill("form[aria-label='New entry'] input[name=content]", text)
        await page.click("form[aria-label='New entry'] button[type=submit]")
        await page.locator(".list li", has_text=text).wait_for()
    await page.fill("form[aria-label='Search memory'] input[name=query]", "tomatoes")
    await page.click("form[aria-label='Search memory'] button[type=submit]")
    best = page.locator("h2:has-text('Best matches') + ul li").first
    await expect(best).to_contain_text("Tomatoes need sun")
    await console.screenshot("memory")
    await console.nav("Memories")
    await console.screenshot("memories")


async def test_narrow_screen(console: Console) -> None:
    page = console.page
    await page.set_viewport_size({"width": 390, "height": 844})
    await console.sign_up()
    await create_project(console, "Pocket")
    await write_file(console, "main.py", "print('small')\n")
    for path, title in (
        ("/projects", "Projects"),
        (page.url.removeprefix(console.origin), "Pocket"),
    ):
        await console.goto(path)
        await page.locator("h1", has_text=title).wait_for()
        await page.locator(".list li, .tree .file").first.wait_for()
        # Nothing is wider than the screen: no sideways scrolling.
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, (path, wide)
    await console.screenshot("narrow-project")
