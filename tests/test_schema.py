from __future__ import annotations

from pathlib import Path

from neuronest.graphql.schema import sdl

ROOT = Path(__file__).resolve().parent.parent


def test_schema_graphql_is_exported_from_the_code() -> None:
    exported = (ROOT / "schema.graphql").read_text()
    assert exported.strip() == sdl().strip(), "run `make schema` and commit the result"
