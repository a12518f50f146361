"""Debian's Firefox (ESR), driven over WebDriver BiDi, the protocol Firefox itself speaks: no
driver binary, no browser download. Enough of it for the console's flows: navigate, run script,
wait for a condition, size the viewport, take a screenshot, and see every request the page made.

The profile points every proxied request at a closed port on loopback, so nothing the browser
would fetch by itself (updates, telemetry, remote settings) leaves the machine; loopback itself
is never proxied."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

FIREFOX = "/usr/bin/firefox-esr"
START_TIMEOUT = 60.0
PREFERENCES = {
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.allow_hijacking_localhost": False,
    "network.trr.mode": 5,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "services.settings.server": "data:,#remote-settings-dummy/v1",
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.region.network.url": "",
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "extensions.update.enabled": False,
    "media.gmp-manager.url": "",
    "security.OCSP.enabled": 0,
}
LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")


class BidiError(AssertionError):
    pass


class Page:
    """The browser's one tab."""

    def __init__(self, connection: ClientConnection, reader: _Reader, context: str) -> None:
        self._connection = connection
        self._reader = reader
        self.context = context

    @property
    def requested(self) -> list[str]:
        """Every URL the page asked for, in order (documents, scripts, fetches, websockets)."""
        return self._reader.requested

    async def command(self, method: str, **params: Any) -> dict[str, Any]:
        return await self._reader.command(self._connection, method, params)

    async def goto(self, url: str) -> None:
        await self.command(
            "browsingContext.navigate", context=self.context, url=url, wait="complete"
        )

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of `expression` (awaited if it is a promise) in the page."""
        reply = await self.command(
            "script.evaluate",
            expression=f"(async () => JSON.stringify(await ({expression})))()",
            target={"context": self.context},
            awaitPromise=True,
        )
        if reply.get("type") == "exception":
            raise BidiError(f"{expression}: {reply['exceptionDetails'].get('text')}")
        text = reply["result"].get("value")
        return None if text is None else json.loads(text)

    async def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """The first truthy value of `expression`, checked every 50 ms; fails after `timeout`
        with the last value it had."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.05)
        raise BidiError(f"still {value!r} after {timeout} s: {expression}")

    async def fill(self, selector: str, value: str) -> None:
        """Sets a field's value and tells the page, as typing does (an `input` event)."""
        found = await self.evaluate(
            f"""(() => {{ const field = document.querySelector({json.dumps(selector)});
            if (!field) return false;
            field.focus(); field.value = {json.dumps(value)};
            field.dispatchEvent(new Event('input', {{bubbles: true}}));
            field.dispatchEvent(new Event('change', {{bubbles: true}}));
            return true; }})()"""
        )
        if not found:
            raise BidiError(f"no field {selector}")

    async def click(self, selector: str, text: str | None = None) -> None:
        """Clicks the first element that matches `selector` (and holds `text`), once it exists
        and is enabled."""
        find = (
            f"[...document.querySelectorAll({json.dumps(selector)})]"
            f".find(e => {json.dumps(text)} === null || e.textContent.includes({json.dumps(text)}))"
        )
        await self.wait_for(f"(() => {{ const e = {find}; return !!e && !e.disabled; }})()")
        await self.evaluate(f"{find}.click()")

    async def set_viewport(self, width: int, height: int) -> None:
        await self.command(
            "browsingContext.setViewport",
            context=self.context,
            viewport={"width": width, "height": height},
        )

    async def screenshot(self, path: Path) -> Path:
        shot = await self.command(
            "browsingContext.captureScreenshot", context=self.context, origin="document"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


class _Reader:
    """Matches replies to commands and keeps the network events."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.requested: list[str] = []

    async def command(
        self, connection: ClientConnection, method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        number = next(self._ids)
        reply = asyncio.get_running_loop().create_future()
        self._waiting[number] = reply
        await connection.send(json.dumps({"id": number, "method": method, "params": params}))
        return await asyncio.wait_for(reply, 60)

    async def run(self, connection: ClientConnection) -> None:
        async for raw in connection:
            message = json.loads(raw)
            if message.get("method") == "network.beforeRequestSent":
                self.requested.append(message["params"]["request"]["url"])
            waiting = self._waiting.pop(message.get("id", -1), None)
            if waiting is None or waiting.done():
                continue
            if message.get("type") == "error":
                waiting.set_exception(BidiError(f"{message['error']}: {message.get('message')}"))
            else:
                waiting.set_result(message.get("result", {}))


def _listening_url(process: subprocess.Popen[str]) -> str:
    """Reads Firefox's stderr until it says where BiDi listens; drains the rest in a thread."""
    assert process.stderr is not None
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if not found and (match := LISTENING.search(line)):
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(START_TIMEOUT) or not found:
        raise BidiError(f"Firefox did not start WebDriver BiDi within {START_TIMEOUT} s")
    return found[0]


@asynccontextmanager
async def firefox_page(executable: str = FIREFOX) -> AsyncIterator[Page]:
    """A headless Firefox of its own (fresh profile) and its tab; stopped at the end."""
    profile = Path(tempfile.mkdtemp(prefix="neuronest-firefox-"))
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFERENCES.items())
    )
    process = subprocess.Popen(
        [executable, "--headless", "--no-remote", "--profile", str(profile),
         "--remote-debugging-port", "0", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={"HOME": str(profile), "PATH": "/usr/bin:/bin", "MOZ_CRASHREPORTER_DISABLE": "1"},
    )  # fmt: skip
    reader_task: asyncio.Task[None] | None = None
    try:
        url = await asyncio.to_thread(_listening_url, process)
        async with connect(f"{url}/session", max_size=None, open_timeout=30) as connection:
            reader = _Reader()
            reader_task = asyncio.create_task(reader.run(connection))
            await reader.command(connection, "session.new", {"capabilities": {}})
            await reader.command(
                connection, "session.subscribe", {"events": ["network.beforeRequestSent"]}
            )
            tree = await reader.command(connection, "browsingContext.getTree", {})
            yield Page(connection, reader, tree["contexts"][0]["context"])
    finally:
        if reader_task is not None:
            reader_task.cancel()
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
        shutil.rmtree(profile, ignore_errors=True)
