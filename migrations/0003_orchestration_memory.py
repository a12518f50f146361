from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from neuronest.orchestration.tasks.models import TaskStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_projects_runtimes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Agent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('capabilities', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('configuration', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'agents', 'app': 'models', 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Memory',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'memories', 'app': 'models', 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A named store of entries that tasks read from and add their exchanges to.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemoryEntry',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('memory', fields.ForeignKeyField('models.Memory', source_field='memory_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('role', fields.CharField(max_length=20)),
                ('content', fields.TextField(unique=False)),
                ('metadata', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'memory_entries', 'app': 'models', 'indexes': [Index(fields=['memory_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Task',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('task_type', fields.CharField(max_length=40)),
                ('input_data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('context', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('tools', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('memory_id', fields.UUIDField(null=True)),
                ('agent_id', fields.UUIDField(null=True)),
                ('status', fields.CharEnumField(default=TaskStatus.CREATED, description='CREATED: created\nRUNNING: running\nCOMPLETED: completed\nFAILED: failed\nCANCELLED: cancelled', enum_type=TaskStatus, max_length=20)),
                ('result', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('error', fields.TextField(null=True, unique=False)),
                ('parent_id', fields.UUIDField(null=True, db_index=True)),
                ('step_id', fields.CharField(null=True, max_length=100)),
                ('attempts', fields.IntField(default=0)),
                ('worker_id', fields.CharField(null=True, max_length=64)),
                ('heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'tasks', 'app': 'models', 'indexes': [Index(fields=['user_id', 'created_at']), Index(fields=['status', 'heartbeat_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
