"""The interactive docs, served from this installation's own files: Swagger UI at `/docs`, GraphiQL
at `/graphql` (its HTML comes from here, see neuronest.graphql.router), their scripts and styles
under `/static/vendor/`. Nothing reaches the internet, so both work on a machine without it.

The browser files are npm packages listed in `static/vendor.txt` and fetched by
scripts/static-assets.sh (`make setup`, `make run` and `make test` run it).
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
VENDOR = STATIC / "vendor"
VENDOR_URL = "/static/vendor"
DOCS_URL = "/docs"

router = APIRouter(include_in_schema=False)


@cache
def vendor_files() -> dict[str, str]:
    """Each listed file's name (e.g. `swagger-ui-bundle.js`) and its URL path."""
    files: dict[str, str] = {}
    for line in (STATIC / "vendor.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, version, _integrity, *paths = line.split()
        for path in paths:
            basename = path.rsplit("/", 1)[-1]
            files[basename] = f"{VENDOR_URL}/{name}@{version}/{basename}"
    return files


def missing_files() -> list[str]:
    prefix = f"{VENDOR_URL}/"
    return [
        name
        for name, url in vendor_files().items()
        if not (VENDOR / url.removeprefix(prefix)).is_file()
    ]


def _missing(page: str) -> HTMLResponse:
    message = (
        f"{page} cannot be shown: its browser files are missing from this installation "
        f"({', '.join(missing_files())}). Run scripts/static-assets.sh (or `make setup`)."
    )
    return HTMLResponse(
        f"<!doctype html><title>{page}</title><p>{html.escape(message)}</p>", status_code=503
    )


@cache
def graphiql_html() -> str:
    files = vendor_files()
    page = (STATIC / "graphiql.html").read_text()
    for placeholder, name in {
        "graphiql_css": "graphiql.min.css",
        "graphiql_js": "graphiql.min.js",
        "react_js": "react.production.min.js",
        "react_dom_js": "react-dom.production.min.js",
    }.items():
        page = page.replace("{{" + placeholder + "}}", files[name])
    return page


def graphiql_page() -> HTMLResponse:
    if missing_files():
        return _missing("GraphiQL")
    return HTMLResponse(graphiql_html())


@router.get(DOCS_URL)
async def swagger_ui() -> HTMLResponse:
    if missing_files():
        return _missing("Swagger UI")
    files = vendor_files()
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="NeuroNest API",
        swagger_js_url=files["swagger-ui-bundle.js"],
        swagger_css_url=files["swagger-ui.css"],
        swagger_favicon_url=files["favicon-32x32.png"],
        # validatorUrl: Swagger UI would otherwise send the document to an online validator.
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
    )


def install(app: FastAPI) -> None:
    """Serves `/docs` and the browser files; the app is made with `docs_url=None`."""
    app.include_router(router)
    app.mount(VENDOR_URL, StaticFiles(directory=VENDOR, check_dir=False), name="vendor")
