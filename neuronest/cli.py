"""`neuronest serve | worker | migrate | user`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from neuronest.config import Settings, get_settings
from neuronest.observability.logs import configure_logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="neuronest", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (GraphQL, REST, websockets)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=1, help="API processes")
    commands.add_parser("worker", help="run background jobs from Redis (arq)")
    commands.add_parser("migrate", help="apply database migrations")
    user = commands.add_parser("user", help="activate or deactivate an account")
    user.add_argument("action", choices=["activate", "deactivate"])
    user.add_argument("email")
    args = parser.parse_args(argv)

    settings = get_settings()
    configure_logging(settings)
    if args.command in ("serve", "worker"):
        try:
            settings.check_startable()
        except ValueError as error:
            print(f"neuronest {args.command}: {error}", file=sys.stderr)
            raise SystemExit(2) from None

    # Each command imports what it runs when it runs (start-up time of the others), not to
    # dodge a cycle: the imports follow the layers of docs/architecture.md.
    if args.command == "migrate":
        from neuronest.db import migrate

        asyncio.run(migrate(settings))
        print("database is up to date")
    elif args.command == "serve":
        import uvicorn

        host = args.host or settings.host
        port = args.port or settings.port
        print(f"NeuroNest serving on http://{host}:{port} (GraphiQL: /graphql, docs: /docs)")
        uvicorn.run(
            "neuronest.asgi:app",
            host=host,
            port=port,
            workers=args.workers,
            log_level="info",
            # JSON logs: uvicorn's own lines go through the root handler too.
            log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
            access_log=False,
            ws="websockets-sansio",
            ws_max_size=settings.max_ws_message_bytes,
            # The client address is the socket's, unless a trusted proxy forwarded the request
            # (uvicorn's own default would believe X-Forwarded-For from anyone on loopback).
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies,
        )
    elif args.command == "user":
        asyncio.run(_set_active(settings, args.email, args.action == "activate"))
    elif args.command == "worker":
        from neuronest.jobs.worker import run_worker

        run_worker(settings)


async def _set_active(settings: Settings, email: str, active: bool) -> None:
    from neuronest.auth.service import set_active
    from neuronest.errors import AppError
    from neuronest.wiring import build_services

    services = build_services(settings)
    await services.start()
    try:
        user = await set_active(services, email=email, active=active)
    except AppError as error:
        raise SystemExit(f"neuronest: {error.message}") from None
    finally:
        await services.close()
    print(f"{user.email} is {'active' if user.is_active else 'inactive'}")


if __name__ == "__main__":
    main()
