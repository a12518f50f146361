"""The web console (console/, built into console/dist by scripts/console.sh) served at `/`.

Its client routes (/projects/..., /runtimes/...) are answered with index.html; paths of the API
(/api, /graphql, /docs, the probes, ...) and methods other than GET and HEAD never reach it, so
their 404s and 405s stay what they were."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

DIST = Path(__file__).resolve().parent.parent / "console" / "dist"
RESERVED = ("api", "graphql", "docs", "redoc", "healthz", "readyz", "metrics", "openapi.json")
NOT_BUILT = "The console is not built: scripts/console.sh (run by `make run`) builds it.\n"


def _reserved(path: str) -> bool:
    first = path.lstrip("/").split("/", 1)[0]
    return first in RESERVED


class ConsoleRoute(BaseRoute):
    """GET and HEAD of any path outside the API: a file of the build, else index.html."""

    def __init__(self, directory: Path = DIST) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, check_dir=False)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and not _reserved(scope["path"])
        ):
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: object) -> None:  # type: ignore[override]
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._response(scope)
        await response(scope, receive, send)

    async def _response(self, scope: Scope) -> Response:
        index = self.directory / "index.html"
        if not index.is_file():
            return PlainTextResponse(NOT_BUILT, status_code=503)
        path = scope["path"].lstrip("/")
        if path and path != "index.html":
            try:
                response = await self.files.get_response(path, scope)
            except HTTPException as error:
                # A missing asset is a 404; any other path is one of the console's own pages.
                if error.status_code != 404 or "." in path.rsplit("/", 1)[-1]:
                    raise
            else:
                if path.startswith("assets/"):
                    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
                return response
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
