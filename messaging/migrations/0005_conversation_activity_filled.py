"""Conversations without a last activity take their creation time (issue 27): the next
migration makes last_message_at never empty. On its own, so that PostgreSQL alters the table
in a transaction with no updated rows pending."""

from django.db import migrations, models


def fill_activity(apps, schema_editor):
    conversation = apps.get_model("messaging", "Conversation")
    conversation.objects.filter(last_message_at__isnull=True).update(
        last_message_at=models.F("created_at")
    )


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0004_outbox"),
    ]

    operations = [
        migrations.RunPython(fill_activity, migrations.RunPython.noop, elidable=True),
    ]
