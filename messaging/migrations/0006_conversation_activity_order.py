"""Conversations listed newest activity first from an index (issue 27): last_message_at is
never empty (0005 filled it), the order is plain descending with the id breaking ties, and
indexes follow that order for every account, one account, and the inbox (who needs a reply
first)."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_connect_in_a_click"),
        ("messaging", "0005_conversation_activity_filled"),
    ]

    operations = [
        migrations.AlterField(
            model_name="conversation",
            name="last_message_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterModelOptions(
            name="conversation",
            options={"ordering": ["-last_message_at", "-id"]},
        ),
        migrations.RemoveIndex(
            model_name="conversation",
            name="messaging_c_status_67edab_idx",
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["status", "needs_reply", "last_message_at", "id"],
                name="conversation_inbox_order",
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["last_message_at", "id"], name="conversation_activity"),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["account", "last_message_at", "id"], name="conversation_account_activity"
            ),
        ),
    ]
