from tortoise import migrations
from tortoise.migrations import operations as ops
from neuronest.orchestration.workflows.models import StepProgress
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_workflows')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WorkflowStep',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('run_id', fields.UUIDField()),
                ('step_id', fields.CharField(max_length=100)),
                ('state', fields.CharEnumField(default=StepProgress.PENDING, description='PENDING: pending\nSTARTED: started\nDONE: done', enum_type=StepProgress, max_length=10)),
                ('waiting', fields.IntField(default=0)),
            ],
            options={'table': 'workflow_steps', 'app': 'models', 'unique_together': (('run_id', 'step_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='WorkflowRun',
            name='finals_left',
            field=fields.IntField(null=True),
        ),
    ]
