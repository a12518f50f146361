"""Throughput and latency of the `me` paths (REST and GraphQL) against /healthz, and logins/s.

Run by scripts/bench.sh, which starts PostgreSQL and Redis and exports
NEURONEST_TEST_DATABASE_URL and NEURONEST_TEST_REDIS_URL. Progress goes to stderr; the result
table (markdown) to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import budget, runtimes, summary, tasks, workflows, wrk
from bench.server import Reply, Server, call

ME_QUERY = "{ me { id email name isActive createdAt } }"


@dataclass(frozen=True)
class Measurement:
    label: str
    request: wrk.Request
    load: wrk.Load
    check: Callable[[Reply], bool]  # is a sample reply the expected one?
    peer: bool = False  # served by the FastAPI + SQLAlchemy peer, not by NeuroNest


@dataclass(frozen=True)
class Row:
    measurement: Measurement
    result: wrk.Result
    cpu_ms: float  # server CPU time per request: steadier than req/s on a shared machine


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def measurements(
    email: str, password: str, token: str, args: argparse.Namespace
) -> list[Measurement]:
    auth = {"Authorization": f"Bearer {token}"}
    json_type = {"Content-Type": "application/json"}
    load = wrk.Load(connections=args.connections, seconds=args.duration)
    login_load = wrk.Load(connections=args.login_connections, seconds=args.duration, timeout_s=30)

    def is_me(reply: Reply) -> bool:
        return (
            reply.status == 200
            and isinstance(reply.body, dict)
            and reply.body.get("email") == email
        )

    def is_graphql_me(reply: Reply) -> bool:
        body = reply.body if isinstance(reply.body, dict) else {}
        me = (body.get("data") or {}).get("me") or {}
        return reply.status == 200 and not body.get("errors") and me.get("email") == email

    def is_token(reply: Reply) -> bool:
        return reply.status == 200 and isinstance(reply.body, dict) and "access_token" in reply.body

    return [
        Measurement(
            "GET /healthz",
            wrk.Request("GET", "/healthz"),
            load,
            lambda reply: reply.status == 200,
        ),
        Measurement(
            "GET /api/auth/me (REST)", wrk.Request("GET", "/api/auth/me", headers=auth), load, is_me
        ),
        Measurement(
            "POST /graphql `me` (GraphQL)",
            wrk.Request("POST", "/graphql", json.dumps({"query": ME_QUERY}), {**auth, **json_type}),
            load,
            is_graphql_me,
        ),
        Measurement(
            "peer: FastAPI + SQLAlchemy GET /users/me",
            wrk.Request("GET", "/users/me", headers=auth),
            load,
            is_me,
            peer=True,
        ),
        Measurement(
            f"POST /api/auth/login (bcrypt {args.bcrypt_rounds} rounds)",
            wrk.Request(
                "POST",
                "/api/auth/login",
                json.dumps({"email": email, "password": password}),
                json_type,
            ),
            login_load,
            is_token,
        ),
    ]


def sample(server: Server, measurement: Measurement) -> None:
    """One request by hand before loading: fail loudly if it is not the expected 200."""
    request = measurement.request
    body = json.loads(request.body) if request.body is not None else None
    token = request.headers.get("Authorization", "").removeprefix("Bearer ") or None
    reply = call(server.url + request.path, request.method, body, token)
    if not measurement.check(reply):
        raise SystemExit(
            f"bench: FAILED sample {measurement.label}: HTTP {reply.status} {reply.body!r}\n"
            f"server log:\n{server.log_tail()}"
        )


def measure(server: Server, measurement: Measurement, warmup: float) -> Row:
    sample(server, measurement)
    if warmup > 0:
        wrk.run(server.url, measurement.request, wrk.Load(measurement.load.connections, warmup))
    cpu_before = server.cpu_seconds()
    result = wrk.run(server.url, measurement.request, measurement.load)
    cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / max(result.requests, 1)
    return logged(Row(measurement, result, cpu_ms))


def combined(rows: list[Row]) -> Row:
    """Rounds of one measurement as one row: totals, the median round's latencies."""
    results = [row.result for row in rows]
    requests = sum(r.requests for r in results)
    middle = sorted(results, key=lambda r: r.p50_ms)[len(results) // 2]
    result = wrk.Result(
        requests=requests,
        seconds=sum(r.seconds for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        p50_ms=middle.p50_ms,
        p99_ms=middle.p99_ms,
    )
    cpu_ms = sum(row.cpu_ms * row.result.requests for row in rows) / max(requests, 1)
    return Row(rows[0].measurement, result, cpu_ms)


def measure_interleaved(
    servers: tuple[Server, Server], batch: list[Measurement], warmup: float, rounds: int
) -> list[Row]:
    """Each measurement of `batch` once per round, in turn, so that load drift on the shared
    machine hits them alike."""
    ours, peer = servers
    done: list[list[Row]] = [[] for _ in batch]
    for index in range(rounds):
        for measurement, rows in zip(batch, done, strict=True):
            server = peer if measurement.peer else ours
            rows.append(measure(server, measurement, warmup if index == 0 else 0))
    return [combined(rows) for rows in done]


def logged(row: Row) -> Row:
    measurement, result, cpu_ms = row.measurement, row.result, row.cpu_ms
    log(
        f"{measurement.label}: {result.rps:.1f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, non-2xx {result.non_2xx}, "
        f"socket errors {result.socket_errors}, server CPU {cpu_ms:.2f} ms/request"
    )
    return row


def ratio_cells(value: float, base: float, aim: float, of: str) -> tuple[str, str]:
    ratio = value / base if base else 0.0
    verdict = "ok" if ratio >= aim else "BELOW AIM"
    return f"{ratio:.0%} of {of}", f"≥ {aim:.0%} ({verdict})"


PEER_AIM = 1.5  # REST `me` req/s at least this many times the peer's


def summary_lines(rows: list[Row]) -> list[summary.Line]:
    rest, graphql, peer = (row for row in rows[1:4])
    peer_label = "FastAPI + SQLAlchemy `/users/me`"
    return [
        summary.Line(
            "REST `GET /api/auth/me` req/s",
            rest.result.rps,
            peer_label,
            peer.result.rps,
            "req/s",
            f"≥ {PEER_AIM:g}x the peer",
            rest.result.rps >= PEER_AIM * peer.result.rps,
        ),
        summary.Line(
            "GraphQL `me` req/s",
            graphql.result.rps,
            peer_label,
            peer.result.rps,
            "req/s",
            "",
        ),
        summary.Line(
            "REST `me` server CPU per request",
            rest.cpu_ms,
            peer_label,
            peer.cpu_ms,
            "ms",
            "",
        ),
        summary.Line(
            "GraphQL `me` server CPU per request",
            graphql.cpu_ms,
            peer_label,
            peer.cpu_ms,
            "ms",
            "",
        ),
    ]


def table(rows: list[Row]) -> str:
    healthz, rest, graphql, peer = (row.result for row in rows[:4])
    ratios = {
        1: ratio_cells(rest.rps, healthz.rps, 0.50, "healthz"),
        2: ratio_cells(graphql.rps, rest.rps, 0.70, "REST me"),
        3: (f"REST me is {rest.rps / peer.rps if peer.rps else 0:.2f}x", f"REST ≥ {PEER_AIM:g}x"),
    }
    lines = [
        "| measurement | req/s | p50 ms | p99 ms | ratio | aim |",
        "|---|---:|---:|---:|---|---|",
    ]
    for index, row in enumerate(rows):
        ratio, aim = ratios.get(index, ("", ""))
        r = row.result
        lines.append(
            f"| {row.measurement.label} | {r.rps:,.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {ratio} | {aim} |"
        )
    return "\n".join(lines)


def notes(rows: list[Row], args: argparse.Namespace, load_before: float) -> str:
    errors = "; ".join(
        f"{row.measurement.label}: {row.result.non_2xx} / {row.result.socket_errors}"
        for row in rows
    )
    failed = any(row.result.non_2xx or row.result.socket_errors for row in rows)
    cpu = "; ".join(f"{row.measurement.label}: {row.cpu_ms:.2f}" for row in rows)
    return "\n".join(
        [
            "",
            f"wrk -t1 -c{args.connections} -d{args.duration:g}s --latency, each after a "
            f"{args.warmup:g} s warm-up (login: -c{args.login_connections}); REST, GraphQL and "
            f"the peer's `me` in {args.rounds} interleaved rounds. One server process (and the "
            "peer's), "
            f"PostgreSQL and Redis on 127.0.0.1; {os.cpu_count()} CPU cores shared by all of them "
            "and wrk.",
            f"NEURONEST_BCRYPT_ROUNDS={args.bcrypt_rounds} (the production default is 12).",
            f"{'WARNING: ' if failed else ''}wrk errors (non-2xx/3xx responses / socket errors): "
            f"{errors}",
            f"Server CPU ms per request: {cpu}",
            f"1-min load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} "
            "(anything else running on the machine lowers req/s).",
        ]
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each")
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds of the `me` rows and the peer's"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--login-connections", type=int, default=4)
    parser.add_argument("--bcrypt-rounds", type=int, default=12)
    parser.add_argument("--runs", type=int, default=20, help="runtime starts per latency row")
    parser.add_argument(
        "--task-samples", type=int, default=200, help="task dispatch (and floor) samples"
    )
    parser.add_argument("--tasks", type=int, default=1000, help="tasks for the throughput row")
    parser.add_argument("--task-concurrency", type=int, default=32, help="concurrent task POSTs")
    parser.add_argument(
        "--peer-tasks", type=int, default=500, help="tasks per round: ours against Celery's"
    )
    parser.add_argument("--peer-rounds", type=int, default=3, help="interleaved throughput rounds")
    parser.add_argument(
        "--only",
        type=sections,
        default=SECTIONS,
        metavar="SECTION[,SECTION]",
        help=f"run only these sections (of {','.join(SECTIONS)}); the closing table has their rows",
    )
    return parser.parse_args()


SECTIONS = ("auth", "runtimes", "tasks", "workflows")


def sections(value: str) -> tuple[str, ...]:
    chosen = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"sections are {', '.join(SECTIONS)}; not {unknown}")
    return chosen


def auth_rows(args: argparse.Namespace, database_url: str, redis_url: str) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="neuronest-bench-") as tmp:
        server = Server(
            database_url=database_url,
            redis_url=redis_url,
            data_dir=Path(tmp),
            bcrypt_rounds=args.bcrypt_rounds,
        )
        peer = server.peer()
        log(f"starting server on {server.url} (bcrypt rounds {args.bcrypt_rounds})")
        try:
            server.start()
            peer.start()
            email, password = f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
            reply = call(
                server.url + "/api/auth/register",
                "POST",
                {"email": email, "password": password, "name": "Bench"},
            )
            if reply.status != 201 or not isinstance(reply.body, dict):
                raise SystemExit(f"bench: FAILED register: HTTP {reply.status} {reply.body!r}")
            token = reply.body["access_token"]
            healthz, *me_rows, login = measurements(email, password, token, args)
            return [
                measure(server, healthz, args.warmup),
                *measure_interleaved((server, peer), me_rows, args.warmup, args.rounds),
                measure(server, login, args.warmup),
            ]
        finally:
            peer.stop()
            server.stop()
            log("servers stopped")


def main() -> None:
    args = parse_args()
    load_before = os.getloadavg()[0]
    # `timeout` sends SIGTERM: unwind so that the server is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        database_url = os.environ["NEURONEST_TEST_DATABASE_URL"]
        redis_url = os.environ["NEURONEST_TEST_REDIS_URL"]
    except KeyError as missing:
        raise SystemExit(f"bench: {missing} is not set; run scripts/bench.sh") from None

    lines: list[summary.Line] = []
    if "auth" in args.only:
        rows = auth_rows(args, database_url, redis_url)
        print(table(rows))
        print(notes(rows, args, load_before))
        print()
        lines += summary_lines(rows) + budget.lines(rows[2].cpu_ms)
    if "runtimes" in args.only:
        with tempfile.TemporaryDirectory(prefix="neuronest-bench-") as tmp:
            docker = os.environ.get("NEURONEST_TEST_DOCKER") == "1"
            print(asyncio.run(runtimes.run(Path(tmp), args.runs, docker)))
        print()
    if "tasks" in args.only:
        with tempfile.TemporaryDirectory(prefix="neuronest-bench-") as tmp:
            options = tasks.Options(
                args.task_samples,
                args.tasks,
                args.task_concurrency,
                args.peer_tasks,
                args.peer_rounds,
            )
            text, task_lines = asyncio.run(tasks.run(Path(tmp), options))
            print(text)
            lines += task_lines
        print()
    if "workflows" in args.only:
        with tempfile.TemporaryDirectory(prefix="neuronest-bench-") as tmp:
            text, workflow_lines = asyncio.run(workflows.run(Path(tmp)))
            print(text)
            lines += workflow_lines
        print()
    print("## NeuroNest next to its peers (same run)")
    print()
    print(summary.table(lines))


if __name__ == "__main__":
    main()
