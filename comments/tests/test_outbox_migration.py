"""The migrations into the outbox move what was queued or failed, of every kind, into its shape:
a database holding each kind, migrated forward (as Django's docs test a data migration)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

# Slow: migrates the whole schema back and forth (about 5 s; CI runs it).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BEFORE = [("messaging", "0003_message_content_human_agent"), ("comments", "0004_mention_rules")]
AFTER = [("messaging", "0004_outbox"), ("comments", "0005_outbox")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_database():
    apps = migrate(BEFORE)
    yield apps
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())  # the suite goes on with the latest schema


def test_queued_and_failed_sends_of_every_kind_move_into_the_outbox(old_database):
    apps, now = old_database, timezone.now()
    conversation = apps.get_model("messaging", "Conversation").objects.create(
        instagram_account_id="17841400000000001", customer_id="1234567890123456"
    )
    message = apps.get_model("messaging", "Message")

    def outgoing(status, **fields):
        return message.objects.create(
            conversation=conversation, direction="out", author="bot", status=status, **fields
        ).pk

    queued = outgoing("queued", next_attempt_at=now)
    retrying = outgoing("queued", next_attempt_at=now + timedelta(minutes=1), attempts=2)
    keyless = outgoing(
        "queued",
        next_attempt_at=now + timedelta(minutes=2),
        last_error="waiting for credentials: Cannot decrypt …",
    )
    failed = outgoing("failed", attempts=12, last_error="gave up after 12 attempts: …")
    in_flight = outgoing("sending", next_attempt_at=now, sending_started_at=now, attempts=1)

    comment = apps.get_model("comments", "Comment").objects.create(
        comment_id="17865799348089039",
        instagram_account_id="17841400000000001",
        author_id="1234567890123456",
        commented_at=now,
    )
    comment_reply = apps.get_model("comments", "CommentReply")

    def reply(kind, status, **fields):
        return comment_reply.objects.create(
            comment=comment,
            kind=kind,
            instagram_account_id="17841400000000001",
            commented_at=now,
            text="Hi!",
            status=status,
            **fields,
        ).pk

    over_the_hour = reply("private", "waiting", due_at=now + timedelta(minutes=30))
    answered_already = reply("public", "already", last_error="answered already: (#10900)")
    mention = apps.get_model("comments", "Mention")
    mention_reply = apps.get_model("comments", "MentionReply")
    skipped, queued_mention, failed_mention = (
        mention_reply.objects.create(
            mention=mention.objects.create(
                instagram_account_id="17841400000000001",
                media_id="17887498072083520",
                comment_id=f"1789422797218612{n}",
                mentioned_at=now,
            ),
            instagram_account_id="17841400000000001",
            status=status,
            last_error=error,
        ).pk
        for n, (status, error) in enumerate(
            [("skipped", "no mention rule matches"), ("queued", ""), ("failed", "(#100) …")]
        )
    )

    apps = migrate(AFTER)

    message = apps.get_model("messaging", "Message")

    def state(model, pk):
        row = model.objects.get(pk=pk)
        return row.status, row.waiting_for, row.attempts, row.claimed_by

    assert state(message, queued) == ("queued", "", 0, "")
    assert message.objects.get(pk=queued).due_at == now  # due: the sender's poll takes it
    assert state(message, retrying) == ("queued", "", 2, "")
    assert message.objects.get(pk=retrying).due_at == now + timedelta(minutes=1)
    assert state(message, keyless) == ("queued", "credentials", 0, "")
    assert state(message, failed) == ("failed", "", 12, "")
    assert message.objects.get(pk=failed).last_error.startswith("gave up after 12 attempts")
    assert message.objects.get(pk=in_flight).claimed_at == now  # the stall sweep's clock

    comment_reply = apps.get_model("comments", "CommentReply")
    assert state(comment_reply, over_the_hour) == ("queued", "hour", 0, "")
    assert comment_reply.objects.get(pk=over_the_hour).due_at == now + timedelta(minutes=30)
    assert state(comment_reply, answered_already)[0] == "sent"
    assert comment_reply.objects.get(pk=answered_already).last_error.startswith("answered")

    mention_reply = apps.get_model("comments", "MentionReply")
    assert state(mention_reply, skipped)[0] == "cancelled"
    assert mention_reply.objects.get(pk=skipped).last_error == "no mention rule matches"
    assert state(mention_reply, queued_mention) == ("queued", "", 0, "")
    assert state(mention_reply, failed_mention)[0] == "failed"
