"""devtools.comment_burst, the bench's viral-post measurement, runs end to end against the live
webhook and a real worker. A smoke check: no timing is asserted."""

import threading

import pytest
from django.db import connection

from comments.models import Comment, CommentRule
from devtools.comment_burst import COMMENT_RULE, hours_to_drain, measure_comment_burst
from messaging.worker_pass import run_until_nothing_is_left

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_burst_is_accepted_and_every_private_reply_goes_out(live_server, fake_meta, settings):
    CommentRule.objects.create(**COMMENT_RULE)
    stop = threading.Event()

    def worker():  # the worker's passes, while the burst comes in
        try:
            while not stop.wait(0.05):
                run_until_nothing_is_left()
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        result = measure_comment_burst(
            int(live_server.url.rsplit(":", 1)[1]),
            fake_meta,
            account_id="17841400000000001",
            app_secret=settings.FACEBOOK_APP_SECRET,
            comments=30,
            concurrency=4,
            drain_timeout=60,
        )
    finally:
        stop.set()
        thread.join()
    assert result["webhook_errors"] == 0
    assert result["private_replies_sent"] == 30 == Comment.objects.count()
    assert result["accepted_per_second"] > 0 and result["hours_to_drain_at_limit"] is not None


def test_the_drain_time_under_the_limit_counts_full_hours():
    assert hours_to_drain(5000, 750, 10.0) == pytest.approx(6 + 500 / 10 / 3600, abs=0.01)
    assert hours_to_drain(100, 750, 10.0) == pytest.approx(0.0, abs=0.01)
