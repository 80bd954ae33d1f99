from django.db import migrations, models
from django.db.models import F


def mark_existing_conversations_as_asked(apps, schema_editor):
    """Conversations stored before this field had their username fetch queued as a task when
    they began: don't ask Instagram again for every one of them."""
    Conversation = apps.get_model("messaging", "Conversation")
    Conversation.objects.update(profile_requested_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_multi_account"),
        ("messaging", "0007_message_is_last_part"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="profile_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["profile_requested_at"], name="messaging_c_profile_297aa2_idx"
            ),
        ),
        migrations.RunPython(mark_existing_conversations_as_asked, migrations.RunPython.noop),
    ]
