"""MAX_TASKS_IN_FLIGHT: a user's own unfinished tasks (workflow steps count with their run).

The count is `users.tasks_in_flight`, kept by triggers on `tasks` (migration 0006) whatever
statement creates, finishes or deletes a task, so no code path can forget to give a slot back. A
task is created by one statement that inserts it only while the user's count is below the limit:
on PostgreSQL the user's row is locked (`FOR UPDATE`) and its count read again as committed, so
concurrent creates queue on that row and each sees the others' tasks; SQLite runs one write at a
time.
"""

from __future__ import annotations

import itertools
from contextlib import AbstractAsyncContextManager
from typing import Any

from neuronest.auth.models import User
from neuronest.config import Settings
from neuronest.kit.quota import quota_reached, within_quota
from neuronest.kit.time import utcnow
from neuronest.orchestration.tasks.models import Task

WHAT = "MAX_TASKS_IN_FLIGHT unfinished tasks"


_insert_sql: dict[str, tuple[str, tuple[str, ...]]] = {}


def _insert_statement(dialect: str) -> tuple[str, tuple[str, ...]]:
    """`INSERT INTO tasks (...) SELECT <values> WHERE <the user has a slot> RETURNING id` (a
    row back when it inserted: the driver's row count of an INSERT is not to be relied on), and
    the fields in the order of its values (then the user's id and the limit)."""
    cached = _insert_sql.get(dialect)
    if cached is None:
        meta = Task._meta
        names = tuple(n for n in meta.fields_db_projection if not meta.fields_map[n].generated)
        marks = (f"${n}" if dialect == "postgres" else "?" for n in itertools.count(1))
        columns = ", ".join(f'"{meta.fields_db_projection[n]}"' for n in names)
        values = ", ".join(next(marks) for _ in names)
        lock = " FOR UPDATE" if dialect == "postgres" else ""
        cached = (
            f'INSERT INTO "{meta.db_table}" ({columns}) SELECT {values} WHERE EXISTS '
            f'(SELECT 1 FROM "{User._meta.db_table}" WHERE "id" = {next(marks)} '
            f'AND "tasks_in_flight" < {next(marks)}{lock}) RETURNING "id"',
            names,
        )
        _insert_sql[dialect] = cached
    return cached


async def create_within_quota(settings: Settings, actor: User, **values: Any) -> Task:
    """Stores a new task of `actor` (one statement), or a 409 when they are at their limit."""
    now = utcnow()
    task = Task(user_id=actor.id, created_at=now, updated_at=now, **values)
    db = Task._meta.db
    sql, names = _insert_statement(db.capabilities.dialect)
    fields = Task._meta.fields_map
    params = [fields[name].to_db_value(getattr(task, name), task) for name in names]
    params += [fields["user_id"].to_db_value(actor.id, task), settings.max_tasks_in_flight]
    if not await db.execute_query_dict(sql, params):
        raise quota_reached(WHAT, settings.max_tasks_in_flight)
    task._saved_in_db = True
    return task


def within_tasks_quota(settings: Settings, actor: User) -> AbstractAsyncContextManager[None]:
    """The body (which creates one task of `actor`, and what goes with it) runs in a transaction
    holding the user's row, once their count is below the limit; otherwise a 409."""

    async def in_flight() -> int:
        db = User._meta.db  # the transaction's connection, within it
        mark = "$1" if db.capabilities.dialect == "postgres" else "?"
        sql = f'SELECT "tasks_in_flight" FROM "{User._meta.db_table}" WHERE "id" = {mark}'
        _, rows = await db.execute_query(sql, [str(actor.id)])
        return int(rows[0]["tasks_in_flight"]) if rows else settings.max_tasks_in_flight

    return within_quota(User, actor.id, in_flight, settings.max_tasks_in_flight, WHAT)
