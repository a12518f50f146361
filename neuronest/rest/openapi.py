"""The OpenAPI document with the API reference's request and response examples.

The examples (examples.json, by "METHOD /path") are added to the document FastAPI generates,
not to the routes: FastAPI's rendering of the document drops every null, and the reference's
examples have nulls that matter (`"container_id": null`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI

EXAMPLES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "examples.json").read_text()
)


def add_examples(document: dict[str, Any]) -> dict[str, Any]:
    for key, example in EXAMPLES.items():
        method, path = key.split(" ", 1)
        operation = document["paths"][path][method.lower()]
        if "request" in example:
            content = operation["requestBody"]["content"]["application/json"]
            content["examples"] = {
                "reference": {"summary": "From the API reference", "value": example["request"]}
            }
        if "response" in example:
            success = next(code for code in operation["responses"] if code.startswith("2"))
            operation["responses"][success]["content"]["application/json"]["example"] = example[
                "response"
            ]
    return document


def install(app: FastAPI) -> None:
    """`app.openapi()` (and so /openapi.json) gives the document with the examples."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_examples(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
