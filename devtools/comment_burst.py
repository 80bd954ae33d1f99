"""A viral post, for `manage.py bench`: a burst of matching comments on one post, how many the
webhook accepts a second, and how long their private replies take to go out.

The lead's bench calls `measure_comment_burst(port, fake, ...)` with its running service
(gunicorn and workers on a fresh database, the fake Graph API in the bench's process) after
storing a comment rule (`COMMENT_RULE` fields) for the burst's account. Meta's limit (750 private
replies an hour) makes a 5,000-comment burst take hours by design: the bench runs the service
with COMMENT_PRIVATE_REPLIES_PER_HOUR lifted, measures how fast the backlog drains, and reports
the drain time under the real limit beside it (`hours_to_drain_at_limit`).
"""

import asyncio
import math
import time

from devtools.bench.load import Latencies, post_request
from devtools.fake_graph import FakeGraphAPI
from devtools.simulation import comment_delivery, signed_headers

VIRAL_POST = "17895695668004550"
# The fields of the comment rule the burst's comments match (CommentRule(**COMMENT_RULE)).
COMMENT_RULE = {
    "keywords": "price",
    "scope": "post",
    "media_id": VIRAL_POST,
    "private_reply_text": "Hi! It's 89 €. Want the link?",
}


class CommentBurst:
    """Signed comment deliveries on one post, each comment its own id and author."""

    def __init__(self, account_id: str, app_secret: str, prefix: str = "7"):
        self.account_id, self.app_secret, self.prefix = account_id, app_secret, prefix
        self.count = 0

    def next(self) -> bytes:
        self.count += 1
        body = comment_delivery(
            account_id=self.account_id,
            comment_id=f"{self.prefix}{self.count:016d}",
            author_id=f"{self.prefix}{self.count:015d}",
            text=f"price? #{self.count}",
            media_id=VIRAL_POST,
        )
        return post_request("/webhooks/instagram", body, signed_headers(body, self.app_secret))


async def _post_all(port: int, requests: list[bytes], concurrency: int) -> Latencies:
    latencies = Latencies()
    queue = iter(requests)

    async def client():
        for raw in queue:
            await latencies.request(port, raw)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


def private_replies_sent(fake: FakeGraphAPI) -> int:
    return sum(1 for c in fake.calls if c.get("kind") == "private_reply" and c["outcome"] == "sent")


def measure_comment_burst(
    port: int,
    fake: FakeGraphAPI,
    *,
    account_id: str,
    app_secret: str,
    comments: int = 5000,
    concurrency: int = 16,
    drain_timeout: float = 600,
    per_hour_limit: int = 750,
) -> dict:
    """Post `comments` matching comments at `concurrency`, then wait for their private
    replies at the fake Graph API. Returns the figures (no timing is asserted anywhere)."""
    burst = CommentBurst(account_id, app_secret)
    requests = [burst.next() for _ in range(comments)]  # built before the clock starts
    already = private_replies_sent(fake)
    began = time.monotonic()
    posted = asyncio.run(_post_all(port, requests, concurrency))
    accepted_in = time.monotonic() - began
    deadline = began + drain_timeout
    while private_replies_sent(fake) - already < comments and time.monotonic() < deadline:
        time.sleep(0.2)
    drained_in = time.monotonic() - began
    sent = private_replies_sent(fake) - already
    per_second = sent / drained_in if drained_in else None
    return {
        "comments": comments,
        "accepted_per_second": round(len(posted.samples_ms) / accepted_in, 1),
        "webhook_p99_ms": posted.percentile(99),
        "webhook_errors": posted.errors,
        "private_replies_sent": sent,
        "drain_seconds": round(drained_in, 1),
        "private_replies_per_second": round(per_second, 1) if per_second else None,
        # Under Meta's limit: full hours of `per_hour_limit` each, then the rest at the
        # service's own pace.
        "hours_to_drain_at_limit": hours_to_drain(comments, per_hour_limit, per_second),
    }


def hours_to_drain(comments: int, per_hour: int, per_second: float | None) -> float | None:
    if not per_second or per_hour <= 0:
        return None
    full_hours = math.ceil(comments / per_hour) - 1
    last = comments - full_hours * per_hour
    return round(full_hours + last / per_second / 3600, 2)
