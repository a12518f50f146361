"""users.tasks_in_flight: how many of a user's own tasks (workflow steps excepted) are unfinished
(`created` or `running`), kept by triggers on `tasks` whatever statement changes them, so the
MAX_TASKS_IN_FLIGHT check is one read of the user's row (neuronest.orchestration.tasks.quota)
rather than a count of their tasks. The column is the database's alone: no model declares it, so
no ORM save of a user can write a stale count back."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

# A row counts while it is a user's own task and unfinished (orchestration.tasks.models).
COUNTS = "{row}.parent_id IS NULL AND {row}.status IN ('created', 'running')"

POSTGRES = [
    "ALTER TABLE users ADD COLUMN tasks_in_flight INT NOT NULL DEFAULT 0",
    f"""
    CREATE FUNCTION tasks_in_flight_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') AND {COUNTS.format(row="OLD")} THEN
        UPDATE users SET tasks_in_flight = tasks_in_flight - 1 WHERE id = OLD.user_id;
      END IF;
      IF TG_OP IN ('UPDATE', 'INSERT') AND {COUNTS.format(row="NEW")} THEN
        UPDATE users SET tasks_in_flight = tasks_in_flight + 1 WHERE id = NEW.user_id;
      END IF;
      RETURN NULL;
    END $$
    """,
    f"""
    CREATE TRIGGER tasks_in_flight_insert AFTER INSERT ON tasks FOR EACH ROW
    WHEN ({COUNTS.format(row="NEW")}) EXECUTE FUNCTION tasks_in_flight_count()
    """,
    f"""
    CREATE TRIGGER tasks_in_flight_update AFTER UPDATE OF status, parent_id, user_id ON tasks
    FOR EACH ROW WHEN (({COUNTS.format(row="OLD")}) IS DISTINCT FROM ({COUNTS.format(row="NEW")})
      OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION tasks_in_flight_count()
    """,
    f"""
    CREATE TRIGGER tasks_in_flight_delete AFTER DELETE ON tasks FOR EACH ROW
    WHEN ({COUNTS.format(row="OLD")}) EXECUTE FUNCTION tasks_in_flight_count()
    """,
]

SQLITE = [
    "ALTER TABLE users ADD COLUMN tasks_in_flight INT NOT NULL DEFAULT 0",
    f"""
    CREATE TRIGGER tasks_in_flight_insert AFTER INSERT ON tasks
    WHEN {COUNTS.format(row="NEW")} BEGIN
      UPDATE users SET tasks_in_flight = tasks_in_flight + 1 WHERE id = NEW.user_id;
    END
    """,
    f"""
    CREATE TRIGGER tasks_in_flight_update AFTER UPDATE OF status, parent_id, user_id ON tasks
    WHEN ({COUNTS.format(row="OLD")}) IS NOT ({COUNTS.format(row="NEW")})
      OR OLD.user_id IS NOT NEW.user_id BEGIN
      UPDATE users SET tasks_in_flight = tasks_in_flight - 1
        WHERE id = OLD.user_id AND {COUNTS.format(row="OLD")};
      UPDATE users SET tasks_in_flight = tasks_in_flight + 1
        WHERE id = NEW.user_id AND {COUNTS.format(row="NEW")};
    END
    """,
    f"""
    CREATE TRIGGER tasks_in_flight_delete AFTER DELETE ON tasks
    WHEN {COUNTS.format(row="OLD")} BEGIN
      UPDATE users SET tasks_in_flight = tasks_in_flight - 1 WHERE id = OLD.user_id;
    END
    """,
]

# Tasks that were unfinished before the triggers existed.
BACKFILL = f"""
UPDATE users SET tasks_in_flight = (
  SELECT COUNT(*) FROM tasks WHERE tasks.user_id = users.id AND {COUNTS.format(row="tasks")}
)
"""


async def forward(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in [*(POSTGRES if postgres else SQLITE), BACKFILL]:
        await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("models", "0005_workflow_steps")]

    initial = False

    operations = [ops.RunPython(forward)]
