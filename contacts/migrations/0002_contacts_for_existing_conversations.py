from django.db import migrations
from django.db.models import F
from django.db.models.functions import Coalesce

BATCH = 2_000


def contacts_for_existing_conversations(apps, schema_editor):
    """Each conversation begun before contacts existed gets its contact (its source unknown:
    a direct message)."""
    Conversation = apps.get_model("messaging", "Conversation")
    Contact = apps.get_model("contacts", "Contact")
    conversations = Conversation.objects.annotate(
        seen=Coalesce(F("last_message_at"), F("created_at"))
    ).values_list("pk", "created_at", "seen")
    batch = []
    for pk, created_at, seen in conversations.iterator(chunk_size=BATCH):
        batch.append(Contact(conversation_id=pk, first_seen_at=created_at, last_seen_at=seen))
        if len(batch) == BATCH:
            Contact.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    Contact.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]

    operations = [
        migrations.RunPython(contacts_for_existing_conversations, migrations.RunPython.noop),
    ]
