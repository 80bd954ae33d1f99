"""Meta's hourly limits, enforced: over the limit, replies wait their turn (oldest comment
first) and still go out; none is dropped, none is sent twice; DMs keep being answered."""

from datetime import timedelta

import pytest
from django.utils import timezone

from comments.models import Comment, CommentReply
from comments.tests.conftest import (
    an_hour_passes,
    comment_payload,
    make_rule,
    private_calls,
    public_calls,
)
from messaging.models import Message
from messaging.outbox import send_due
from messaging.outbox.claiming import SENDS_PER_ACCOUNT
from messaging.tests.conftest import load_payload

pytestmark = pytest.mark.django_db


def deliver_burst(deliver, count: int) -> list[str]:
    """`count` matching comments, delivered newest first; their ids, oldest first."""
    ids = [f"1786579934808{n:04d}" for n in range(count)]
    for n in reversed(range(count)):
        age = timedelta(minutes=count - n)
        deliver(comment_payload(comment_id=ids[n], author=f"55{n:014d}", age=age))
    return ids


def test_over_the_hourly_limit_private_replies_wait_oldest_first(
    deliver, fake_meta, run_worker, settings
):
    settings.COMMENT_PRIVATE_REPLIES_PER_HOUR = 3
    make_rule()
    ids = deliver_burst(deliver, 5)
    run_worker()

    # The oldest three went (side by side, in one round of the sender: in any order).
    assert sorted(call["comment_id"] for call in private_calls(fake_meta)) == ids[:3]
    waiting = CommentReply.objects.filter(status="queued", waiting_for="hour")
    assert sorted(waiting.values_list("comment__comment_id", flat=True)) == ids[3:]
    first_claim = min(
        CommentReply.objects.exclude(claimed_at=None).values_list("claimed_at", flat=True)
    )
    assert {reply.due_at for reply in waiting} == {first_claim + timedelta(hours=1)}
    assert Comment.objects.filter(status="waiting").count() == 2

    run_worker()  # nothing is due before the hour frees a slot
    assert len(private_calls(fake_meta)) == 3

    an_hour_passes()
    run_worker()
    assert sorted(call["comment_id"] for call in private_calls(fake_meta)) == ids
    assert set(CommentReply.objects.values_list("status", flat=True)) == {"sent"}
    assert Comment.objects.filter(status="private").count() == 5


def test_dms_are_answered_while_comment_replies_wait(deliver, fake_meta, run_worker, settings):
    settings.COMMENT_PRIVATE_REPLIES_PER_HOUR = 1
    make_rule()
    deliver_burst(deliver, 3)
    run_worker()
    deliver(load_payload("messages__text"))
    run_worker()
    dm_reply = Message.objects.get(author="bot", in_reply_to__isnull=False)
    assert dm_reply.status == "sent"
    assert CommentReply.objects.filter(status="queued", waiting_for="hour").count() == 2


def test_the_limit_holds_across_passes_within_the_hour(deliver, fake_meta, run_worker, settings):
    settings.COMMENT_PRIVATE_REPLIES_PER_HOUR = 4
    make_rule()
    deliver_burst(deliver, 2)
    run_worker()
    for n in range(3):
        deliver(comment_payload(comment_id=f"1786579934809{n:04d}", author=f"66{n:014d}"))
    run_worker()
    assert len(private_calls(fake_meta)) == 4
    assert CommentReply.objects.filter(status="queued", waiting_for="hour").count() == 1


def test_one_pass_sends_a_bounded_batch(deliver, fake_meta, settings):
    make_rule()
    deliver_burst(deliver, 12)
    assert send_due(3) == 3  # the round's size
    assert send_due() == SENDS_PER_ACCOUNT  # and at most this many of one account a round
    assert len(private_calls(fake_meta)) == 3 + SENDS_PER_ACCOUNT


def test_live_comments_are_not_held_by_the_hourly_limit(deliver, fake_meta, run_worker, settings):
    settings.COMMENT_PRIVATE_REPLIES_PER_HOUR = 1
    make_rule()
    deliver_burst(deliver, 2)
    deliver(comment_payload(comment_id="17865799348089050", fixture="live_comments__comment"))
    run_worker()
    sent = set(CommentReply.objects.filter(status="sent").values_list("is_live", flat=True))
    assert sent == {True, False}
    assert CommentReply.objects.filter(status="queued", waiting_for="hour").count() == 1


def test_public_replies_have_their_own_limit(deliver, fake_meta, run_worker, settings):
    settings.COMMENT_PRIVATE_REPLIES_PER_HOUR = 10
    settings.COMMENT_PUBLIC_REPLIES_PER_HOUR = 2
    make_rule(public_replies="Sent you a DM!\nCheck your DMs 💌\nDM'd you the price")
    deliver_burst(deliver, 3)
    run_worker()
    assert len(private_calls(fake_meta)) == 3
    assert len(public_calls(fake_meta)) == 2
    assert Comment.objects.filter(status="waiting").count() == 1
    an_hour_passes()
    run_worker()
    assert len(public_calls(fake_meta)) == 3
    assert Comment.objects.filter(status="both").count() == 3


def test_a_reply_claimed_by_a_killed_worker_is_swept(deliver, fake_meta, run_worker, settings):
    from messaging.recovery import sweep_stalled_sends

    make_rule(public_replies="Sent you a DM!")
    deliver(comment_payload())
    long_ago = timezone.now() - timedelta(seconds=settings.REPLY_STALLED_AFTER + 1)
    CommentReply.objects.update(status="sending", claimed_at=long_ago, attempts=1)
    swept = sweep_stalled_sends()
    assert (swept.resent, swept.given_up) == (1, 1)
    private = CommentReply.objects.get(kind="private")
    public = CommentReply.objects.get(kind="public")
    assert private.status == "queued"  # Meta refuses a second one: trying again is safe
    assert public.status == "failed" and "twice" in public.last_error
    run_worker()
    assert CommentReply.objects.get(kind="private").status == "sent"
