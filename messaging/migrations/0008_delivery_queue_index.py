from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0007_message_is_last_part"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                fields=["state", "handling_since"], name="messaging_w_state_fe0d65_idx"
            ),
        ),
    ]
