"""The outbox (issue 23): an outgoing message's send state takes the outbox's shared names
(due_at, claimed_at), a marker of what a queued send waits for, and the account's hourly
limits' lock rows (they were comments' ReplyQuota)."""

from django.db import migrations, models


def mark_waiting_for_credentials(apps, schema_editor):
    """Replies that waited for credentials said so in their last error only."""
    message = apps.get_model("messaging", "Message")
    message.objects.filter(
        status="queued", last_error__startswith="waiting for credentials"
    ).update(waiting_for="credentials")


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0003_message_content_human_agent'),
    ]

    operations = [
        migrations.CreateModel(
            name='HourlyQuota',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('instagram_account_id', models.CharField(max_length=64)),
                ('limit', models.CharField(max_length=32)),
            ],
        ),
        migrations.RemoveIndex(
            model_name='message',
            name='messaging_m_status_c84de3_idx',
        ),
        migrations.RenameField(
            model_name='message',
            old_name='sending_started_at',
            new_name='claimed_at',
        ),
        migrations.RenameField(
            model_name='message',
            old_name='next_attempt_at',
            new_name='due_at',
        ),
        migrations.AddField(
            model_name='message',
            name='waiting_for',
            field=models.CharField(blank=True, choices=[('', '—'), ('credentials', 'Credentials'), ('hour', 'The hourly limit'), ('rate', "The account's send rate")], default='', max_length=11),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(fields=['status', 'due_at'], name='messaging_m_status_905efb_idx'),
        ),
        migrations.AddConstraint(
            model_name='hourlyquota',
            constraint=models.UniqueConstraint(fields=('instagram_account_id', 'limit'), name='one_quota'),
        ),
        migrations.CreateModel(
            name="Send",
            fields=[],
            options={
                "verbose_name": "send",
                "verbose_name_plural": "outbox: every send",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("messaging.message",),
        ),
        migrations.RunPython(mark_waiting_for_credentials, migrations.RunPython.noop),
    ]
