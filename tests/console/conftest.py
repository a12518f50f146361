"""The web console in a real headless Chromium (Debian's), driven by Playwright, against a real
embedded deployment. The browser may reach the server and nothing else: every other request is
refused and remembered, and each test ends by checking that there was none."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Mailbox, start_stack
from tests.harness import Stack
from tests.llm.fake_llm import FakeLLM

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("NEURONEST_SCREENSHOTS", ROOT / ".data" / "screenshots"))
PASSWORD = "password123"

FLOOD = """import sys, time
for i in range(1, 2001):
    print(f"line {i:04d}")
sys.stdout.flush()
time.sleep(300)
"""


# Scrolls the log view from top to bottom a screen at a time: every line drawn on the way, once,
# top to bottom, as [position, seq, class, text].
READ_LOG = """async () => {
    const box = document.querySelector('.log');
    const frame = () => new Promise(resolve => requestAnimationFrame(() => resolve()));
    const seen = new Map();
    for (let top = 0; ; top += box.clientHeight) {
        box.scrollTop = top;
        await frame(); await frame();
        const origin = box.getBoundingClientRect().top - box.scrollTop;
        for (const row of box.querySelectorAll('.line')) {
            const y = Math.round(row.getBoundingClientRect().top - origin);
            const kind = [...row.classList].find(c => c.startsWith('log-'));
            seen.set(y, [y, Number(row.dataset.seq), kind, row.textContent]);
        }
        if (top + box.clientHeight >= box.scrollHeight) break;
    }
    return [...seen.values()].sort((a, b) => a[0] - b[0]);
}"""


def debian_browser(executable: str) -> str:
    """A browser of Debian's (chromium, firefox-esr), installed by scripts/system-deps.sh when
    it is missing."""
    if not os.access(executable, os.X_OK):
        subprocess.run([ROOT / "scripts" / "system-deps.sh"], check=False)
    if not os.access(executable, os.X_OK):
        pytest.skip(f"{executable} is absent and scripts/system-deps.sh could not install it")
    return executable


@pytest.fixture(scope="session")
def console_build() -> Path:
    """console/dist, built by scripts/console.sh (a no-op when the sources did not change)."""
    subprocess.run([ROOT / "scripts" / "console.sh"], check=True)
    return ROOT / "console" / "dist"


@pytest.fixture(scope="module")
def console_stack(
    console_build: Path,
    tmp_path_factory: pytest.TempPathFactory,
    mailbox: Mailbox,
    llm: FakeLLM,
) -> Iterator[Stack]:
    stack = start_stack("embedded", tmp_path_factory.mktemp("console"), mailbox, llm)
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    executable = debian_browser(CHROMIUM)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@dataclass
class Console:
    """One browser context on the console, and what it asked of the network."""

    stack: Stack
    context: Any
    page: Any
    requested: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.stack.url

    async def goto(self, path: str) -> None:
        await self.page.goto(self.origin + path)

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    async def sign_up(self, name: str = "Console User") -> str:
        """Creates an account through the sign-up page; its email."""
        email = f"console-{uuid.uuid4().hex[:10]}@example.com"
        await self.goto("/signup")
        await self.page.fill("input[name=name]", name)
        await self.page.fill("input[name=email]", email)
        await self.page.fill("input[name=password]", PASSWORD)
        await self.page.click("button[type=submit]")
        await self.page.locator("h1", has_text="Projects").wait_for()
        return email

    async def nav(self, label: str) -> None:
        await self.page.click(f"header.top nav >> text={label}")
        await self.page.locator("h1", has_text=label).wait_for()


@pytest.fixture
async def console(browser: Any, console_stack: Stack) -> AsyncIterator[Console]:
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(30_000)
    page = await context.new_page()
    console = Console(console_stack, context, page)
    own = urlsplit(console_stack.url).netloc

    async def only_the_server(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == own:
            await route.continue_()
        else:
            console.refused.append(url)
            await route.abort()

    await context.route("**/*", only_the_server)
    context.on("request", lambda request: console.requested.append(request.url))
    page.on("websocket", lambda socket: console.requested.append(socket.url))
    yield console
    await context.close()
    assert console.refused == [], f"the console asked other hosts for {console.refused}"
    foreign = [u for u in console.requested if urlsplit(u).netloc != own]
    assert foreign == [], f"the console reached beyond its server: {foreign}"
