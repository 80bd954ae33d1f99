"""The outbox (issue 23): replies to comments and mentions take the outbox's one state
machine (queued, sending, sent, failed, cancelled), with what a queued one waits for beside it;
their hourly limits' lock rows move to messaging (HourlyQuota, created on first use)."""

import django.utils.timezone
from django.db import migrations, models


def into_the_outbox_states(apps, schema_editor):
    comment_reply = apps.get_model("comments", "CommentReply")
    mention_reply = apps.get_model("comments", "MentionReply")
    # Waiting for the hourly limit: queued, due when the hour frees a slot, and marked so.
    comment_reply.objects.filter(status="waiting").update(status="queued", waiting_for="hour")
    # Meta said it was answered already: delivered (its last_error says how we know).
    comment_reply.objects.filter(status="already").update(status="sent")
    # A mention not answered (the account's own, no rule matches): cancelled, with why.
    mention_reply.objects.filter(status="skipped").update(status="cancelled")


def out_of_the_outbox_states(apps, schema_editor):
    comment_reply = apps.get_model("comments", "CommentReply")
    mention_reply = apps.get_model("comments", "MentionReply")
    comment_reply.objects.filter(status="queued", waiting_for="hour").update(status="waiting")
    comment_reply.objects.filter(status="sent", last_error__startswith="answered already").update(
        status="already"
    )
    comment_reply.objects.filter(status="cancelled").update(status="failed")
    mention_reply.objects.filter(status="cancelled").update(status="skipped")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_messenger_profile_typing_human_agent'),
        ('comments', '0004_mention_rules'),
    ]

    operations = [
        migrations.DeleteModel(
            name='ReplyQuota',
        ),
        migrations.AddField(
            model_name='commentreply',
            name='claimed_by',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='commentreply',
            name='waiting_for',
            field=models.CharField(blank=True, choices=[('', '—'), ('credentials', 'Credentials'), ('hour', 'The hourly limit'), ('rate', "The account's send rate")], default='', max_length=11),
        ),
        migrations.AddField(
            model_name='mentionreply',
            name='claimed_by',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='mentionreply',
            name='waiting_for',
            field=models.CharField(blank=True, choices=[('', '—'), ('credentials', 'Credentials'), ('hour', 'The hourly limit'), ('rate', "The account's send rate")], default='', max_length=11),
        ),
        migrations.AlterField(
            model_name='commentreply',
            name='due_at',
            field=models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True),
        ),
        migrations.AlterField(
            model_name='commentreply',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=9),
        ),
        migrations.AlterField(
            model_name='mentionreply',
            name='due_at',
            field=models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True),
        ),
        migrations.AlterField(
            model_name='mentionreply',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('sending', 'Sending'), ('sent', 'Answered publicly'), ('failed', 'Failed'), ('cancelled', 'Not answered')], default='queued', max_length=9),
        ),
        migrations.AddIndex(
            model_name='mentionreply',
            index=models.Index(fields=['instagram_account_id', 'claimed_at'], name='comments_me_instagr_a2223b_idx'),
        ),
        migrations.RunPython(into_the_outbox_states, out_of_the_outbox_states),
    ]
