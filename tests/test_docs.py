"""The interactive docs work without internet: Swagger UI at /docs and GraphiQL at /graphql load
every script, style and icon from the server itself, and the server answers each of them."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.harness import Stack

# What each page must load, by the start of the content type the server gives it.
EXPECTED_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
}


class Resources(HTMLParser):
    """The URLs a browser would fetch for the page: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(str(values["src"]))
        elif tag == "script":
            self.inline_scripts += 1
        elif tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))
        elif tag in ("img", "iframe") and values.get("src"):
            self.urls.append(str(values["src"]))


def resources(html: str) -> list[str]:
    parser = Resources()
    parser.feed(html)
    return parser.urls


async def page(api: httpx.AsyncClient, path: str) -> str:
    response = await api.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


@pytest.mark.parametrize(
    ("path", "needs"),
    [
        ("/docs", ["swagger-ui-bundle.js", "swagger-ui.css"]),
        (
            "/graphql",
            [
                "react.production.min.js",
                "react-dom.production.min.js",
                "graphiql.min.js",
                "graphiql.min.css",
            ],
        ),
    ],
)
async def test_the_page_loads_only_files_of_the_server_itself(
    api: httpx.AsyncClient, stack: Stack, path: str, needs: list[str]
) -> None:
    html = await page(api, path)
    urls = [urljoin(f"{stack.url}{path}", url) for url in resources(html)]
    origin = urlsplit(stack.url)
    foreign = [url for url in urls if urlsplit(url)[:2] != origin[:2]]
    assert not foreign, f"{path} loads from elsewhere: {foreign}"
    assert not re.findall(r"\w+://", html), "an absolute URL in the page (or its scripts)"
    names = [urlsplit(url).path.rsplit("/", 1)[-1] for url in urls]
    assert set(needs) <= set(names), names
    for url in urls:
        response = await api.get(url)
        assert response.status_code == 200, url
        suffix = "." + url.rsplit(".", 1)[-1]
        assert response.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), (
            url,
            response.headers["content-type"],
        )
        assert len(response.content) > 500, url


async def test_swagger_ui_reads_this_servers_document_and_sends_it_nowhere(
    api: httpx.AsyncClient,
) -> None:
    html = await page(api, "/docs")
    assert "url: '/openapi.json'" in html
    # Swagger UI's default would post the document to an online validator for its badge.
    assert '"validatorUrl": null' in html
    document = await api.get("/openapi.json")
    assert document.status_code == 200
    assert document.json()["info"]["title"] == "NeuroNest"


async def test_graphiql_talks_to_this_endpoint_over_http_and_websockets(
    api: httpx.AsyncClient,
) -> None:
    html = await page(api, "/graphql")
    assert "GraphiQL.createFetcher" in html
    assert "subscriptionUrl" in html
    # A query still gets JSON, not the page.
    response = await api.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_redoc_which_only_loads_from_a_cdn_is_not_offered(api: httpx.AsyncClient) -> None:
    assert (await api.get("/redoc")).status_code == 404
