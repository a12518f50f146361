"""Lists of log lines completed in one pass give exactly what graphql-core's own completion
gives: the same JSON for every selection, the same errors where the data breaks the schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

from neuronest.config import Settings
from neuronest.graphql.flat import Columns, FlatListExecution
from neuronest.graphql.scalars import scalars
from neuronest.kit.time import iso
from neuronest.runtimes.graphql import RuntimeLog

BASE = datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC)


def line(seq: int, **changes: Any) -> RuntimeLog:
    fields: dict[str, Any] = {
        "id": strawberry.ID(f"id-{seq}"),
        "runtime_id": strawberry.ID("r"),
        "user_id": strawberry.ID("u"),
        "seq": seq,
        "type": "stdout",
        "message": f"line {seq} \\x00 ünï",
        # A few lines share a millisecond, as in a flood; one in another zone, one naive.
        "timestamp": BASE + timedelta(milliseconds=seq // 3),
    }
    return RuntimeLog.model_construct(**{**fields, **changes})


LINES: list[RuntimeLog] = []


def columns() -> Columns:
    """`LINES` as a resolver may give them: a list of values per attribute."""
    names = RuntimeLog.model_fields
    return Columns(
        {name: [getattr(item, name) for item in LINES] for name in names},
        RuntimeLog.model_construct,
    )


@strawberry.type
class Query:
    @strawberry.field
    def lines(self) -> list[RuntimeLog]:
        return LINES

    @strawberry.field
    def columns(self) -> list[RuntimeLog]:
        return cast(list[RuntimeLog], columns())


class Counting(FlatListExecution):
    """Counts the lists the one pass completed, so that each comparison is known to compare it."""

    flat = 0

    def _flat_parts(self, *args: Any) -> Any:
        parts = super()._flat_parts(*args)
        Counting.flat += 1
        return parts


CONFIG = StrawberryConfig(scalar_map=scalars(Settings()))
FAST = strawberry.Schema(query=Query, execution_context_class=Counting, config=CONFIG)
PLAIN = strawberry.Schema(query=Query, config=CONFIG)

SELECTIONS = [
    "{ lines { id runtimeId userId seq type message timestamp } }",
    "{ lines { seq } }",
    "{ lines { n: seq m: message __typename seq } }",
    "{ lines { ...L } } fragment L on RuntimeLog { seq type }",
    "{ lines { ... on RuntimeLog { seq } message } }",
    "query($skip: Boolean = true) { lines { seq message @skip(if: $skip) } }",
    "{ lines { seq } again: lines { message } }",
    "{ lines { seq @skip(if: true) } }",
]


@pytest.mark.parametrize("document", SELECTIONS)
def test_the_one_pass_completion_gives_graphql_cores_json(document: str) -> None:
    LINES[:] = [line(n) for n in range(48)]
    LINES.append(line(48, timestamp=BASE.astimezone(timezone(timedelta(hours=-5)))))
    LINES.append(line(49, timestamp=BASE.replace(tzinfo=None)))
    Counting.flat = 0
    fast, plain = FAST.execute_sync(document), PLAIN.execute_sync(document)
    assert fast.errors is None, fast.errors
    assert fast.data == plain.data
    assert fast.data is not None and len(fast.data["lines"]) == 50
    assert Counting.flat == document.count("lines")


@pytest.mark.parametrize("document", SELECTIONS)
def test_columns_give_what_the_same_list_of_objects_gives(document: str) -> None:
    LINES[:] = [line(n) for n in range(50)]
    Counting.flat = 0
    document = document.replace("lines", "columns")
    fast, plain = FAST.execute_sync(document), PLAIN.execute_sync(document)
    assert fast.errors is None, fast.errors
    assert fast.data == plain.data
    assert fast.data is not None and len(fast.data["columns"]) == 50
    assert Counting.flat == document.count("columns")


def test_a_null_the_schema_forbids_is_reported_as_graphql_core_reports_it() -> None:
    LINES[:] = [line(1), line(2, message=None)]
    fast = FAST.execute_sync("{ lines { seq message } }")
    plain = PLAIN.execute_sync("{ lines { seq message } }")
    assert fast.data == plain.data is None
    assert fast.errors is not None and plain.errors is not None
    assert [e.message for e in fast.errors] == [e.message for e in plain.errors]
    assert fast.errors[0].path == ["lines", 1, "message"]


def test_log_timestamps_are_written_as_every_other_datetime() -> None:
    LINES[:] = [line(n) for n in range(9)]
    LINES.append(line(9, timestamp=BASE.astimezone(timezone(timedelta(hours=9)))))
    fast = FAST.execute_sync("{ lines { timestamp } }")
    assert fast.errors is None, fast.errors
    assert fast.data is not None
    shown = [item["timestamp"] for item in fast.data["lines"]]
    assert shown == [iso(item.timestamp) for item in LINES]
    assert shown[:4] == [
        "2026-12-02T01:02:03.456Z",
        "2026-12-02T01:02:03.456Z",
        "2026-12-02T01:02:03.456Z",
        "2026-12-02T01:02:03.457Z",
    ]
    assert shown[-1] == "2026-12-02T01:02:03.456Z"
