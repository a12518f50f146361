"""Run `wrk` against one endpoint and read its results from a Lua `done()` hook."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

RESULT_MARK = "BENCH-RESULT "

# wrk calls done() once at the end; it prints one JSON line that we parse.
DONE_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%.0f,"duration_us":%.0f,"non_2xx":%.0f,"connect":%.0f,'
    .. '"read":%.0f,"write":%.0f,"timeout":%.0f,"p50_us":%.1f,"p99_us":%.1f}\\n',
    "RESULT_MARK", summary.requests, summary.duration, e.status, e.connect,
    e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99)))
end
""".replace("RESULT_MARK", RESULT_MARK)


@dataclass(frozen=True)
class Request:
    """What every connection sends, over and over."""

    method: str
    path: str
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Load:
    connections: int
    seconds: float
    threads: int = 1
    timeout_s: float = 5.0


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    non_2xx: int  # wrk's "Non-2xx or 3xx responses" (status >= 400)
    socket_errors: int  # connect + read + write + timeout
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(text: str) -> str:
    """A Lua long-bracket literal: no escaping needed."""
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def lua_script(request: Request) -> str:
    lines = [f"wrk.method = {_lua_string(request.method)}"]
    if request.body is not None:
        lines.append(f"wrk.body = {_lua_string(request.body)}")
    for name, value in request.headers.items():
        lines.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")
    return "\n".join(lines) + "\n" + DONE_HOOK


def run(base_url: str, request: Request, load: Load) -> Result:
    """One bounded wrk run; raises if wrk fails or prints no result."""
    with tempfile.TemporaryDirectory(prefix="neuronest-wrk-") as tmp:
        script = Path(tmp) / "request.lua"
        script.write_text(lua_script(request))
        command = [
            "wrk",
            f"-t{load.threads}",
            f"-c{load.connections}",
            f"-d{load.seconds:g}s",
            f"--timeout={load.timeout_s:g}s",
            "--latency",
            "-s",
            str(script),
            base_url + request.path,
        ]
        # wrk stops by itself after -d; the timeout only guards against a hang.
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=load.seconds + 30, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            raw = json.loads(line.removeprefix(RESULT_MARK))
            return Result(
                requests=int(raw["requests"]),
                seconds=raw["duration_us"] / 1e6,
                non_2xx=int(raw["non_2xx"]),
                socket_errors=int(raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]),
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
