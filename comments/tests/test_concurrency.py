"""However concurrently a comment is delivered, and however many workers send at once, a
comment gets one private reply, and the hourly limit holds."""

import pytest

from comments.models import Comment, CommentReply
from comments.tests.conftest import comment_payload, make_rule, private_calls
from messaging.models import WebhookDelivery
from messaging.outbox import send_due
from messaging.tests.conftest import encode
from messaging.tests.test_concurrent_deliveries import at_once, deliver_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def test_duplicate_comment_delivered_concurrently_sends_one_private_reply(fake_meta, run_worker):
    make_rule()
    body = encode(comment_payload())
    assert deliver_concurrently([body] * 8) == [200] * 8
    assert WebhookDelivery.objects.filter(state="processed").count() == 8
    assert Comment.objects.count() == 1
    assert CommentReply.objects.count() == 1
    at_once(lambda _: send_due(), range(4))
    run_worker()
    assert len(private_calls(fake_meta)) == 1


def test_workers_sending_at_once_never_exceed_the_hourly_limit(fake_meta, settings):
    settings.COMMENT_PRIVATE_REPLIES_PER_HOUR = 3
    make_rule()
    bodies = [
        encode(comment_payload(comment_id=f"1786579934810{n:04d}", author=f"77{n:014d}"))
        for n in range(10)
    ]
    deliver_concurrently(bodies)
    at_once(lambda _: send_due(2), range(5))
    at_once(lambda _: send_due(2), range(5))
    calls = private_calls(fake_meta)
    assert len(calls) == 3
    assert len({call["comment_id"] for call in calls}) == 3
    assert CommentReply.objects.filter(status="sent").count() == 3
    assert CommentReply.objects.filter(status="queued", waiting_for="hour").count() == 7
