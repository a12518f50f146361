from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from neuronest.runtimes.models import RuntimeStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Project',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'projects', 'app': 'models', 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProjectFile',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('path', fields.CharField(max_length=1024)),
                ('content', fields.BinaryField()),
                ('size', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'project_files', 'app': 'models', 'unique_together': (('project_id', 'path'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Runtime',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('language', fields.CharField(max_length=40)),
                ('entry_point', fields.CharField(max_length=1024)),
                ('environment_vars', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('timeout', fields.IntField(default=300)),
                ('status', fields.CharEnumField(default=RuntimeStatus.CREATED, description='CREATED: created\nSTARTING: starting\nRUNNING: running\nSTOPPING: stopping\nSTOPPED: stopped\nCOMPLETED: completed\nFAILED: failed\nTIMEOUT: timeout', enum_type=RuntimeStatus, max_length=20)),
                ('container_id', fields.CharField(null=True, max_length=128)),
                ('port', fields.IntField(null=True)),
                ('url', fields.CharField(null=True, max_length=255)),
                ('exit_code', fields.IntField(null=True)),
                ('error', fields.TextField(null=True, unique=False)),
                ('backend', fields.CharField(null=True, max_length=20)),
                ('run', fields.IntField(default=0)),
                ('worker_id', fields.CharField(null=True, max_length=64)),
                ('heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('deadline_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('log_seq', fields.BigIntField(default=0)),
                ('log_cursor', fields.CharField(null=True, max_length=128)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'runtimes', 'app': 'models', 'indexes': [Index(fields=['user_id', 'created_at']), Index(fields=['status', 'heartbeat_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RuntimeLog',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('runtime', fields.ForeignKeyField('models.Runtime', source_field='runtime_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('user_id', fields.UUIDField()),
                ('seq', fields.BigIntField()),
                ('run', fields.IntField()),
                ('type', fields.CharField(max_length=10)),
                ('message', fields.TextField(unique=False)),
                ('timestamp', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'runtime_logs', 'app': 'models', 'unique_together': (('runtime_id', 'seq'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
