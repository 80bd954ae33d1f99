from django.db import migrations, models
from django.db.models import Max


def mark_parts_followed_by_others(apps, schema_editor):
    """Split replies stored before this field: every part but the last is followed."""
    Message = apps.get_model("messaging", "Message")
    split = Message.objects.filter(first_part__isnull=False).values("first_part")
    for group in split.annotate(last=Max("part")):
        head = group["first_part"]
        Message.objects.filter(pk=head).update(is_last_part=False)
        Message.objects.filter(first_part=head, part__lt=group["last"]).update(is_last_part=False)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0006_deliveries_handled_by_the_worker"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="is_last_part",
            field=models.BooleanField(default=True),
        ),
        migrations.RunPython(mark_parts_followed_by_others, migrations.RunPython.noop),
    ]
