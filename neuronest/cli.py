"""`neuronest serve | worker | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging

from neuronest.config import get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="neuronest", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (GraphQL, REST, websockets)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=1, help="API processes")
    commands.add_parser("worker", help="run background jobs from Redis (arq)")
    commands.add_parser("migrate", help="apply database migrations")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()

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
            access_log=False,
            ws="websockets-sansio",
            ws_max_size=settings.max_ws_message_bytes,
        )
    elif args.command == "worker":
        from neuronest.jobs.worker import build_worker

        build_worker(settings).run()


if __name__ == "__main__":
    main()
