"""Calling the Conversations API for one account at Meta's pace (2 calls/s per account, across
every worker), and what a caller does when Meta says "not now"."""

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.utils import timezone

from history.models import ConversationsApiThrottle
from meta import conversations, graph

T = TypeVar("T")


class NotNow(Exception):
    """The account's calls must wait until `until` (Meta's rate limit, or a transient error)."""

    def __init__(self, until: datetime, reason: str):
        super().__init__(reason)
        self.until, self.reason = until, reason


# A transient failure (a timeout, a 5xx) is tried again this much later.
TRANSIENT_RETRY = timedelta(seconds=30)


def conversations_node(account) -> str:
    """Whose conversations to list: with Facebook Login Meta lists them on the Page
    (/PAGE-ID/conversations?platform=instagram), with Instagram Login on the account."""
    if account.api == account.Api.FACEBOOK_LOGIN and account.page_id:
        return account.page_id
    return account.instagram_id


class PacedCalls:
    """One account's Conversations API calls, each taking a slot of its shared pace. Counts
    the calls it makes. Raises NotNow when the next slot is further than `max_wait` away or
    Meta is throttling; other GraphAPIErrors pass through (permanent ones)."""

    def __init__(self, account, max_wait: timedelta):
        self.account = account
        self.client = conversations.history_client_for(account)
        self.max_wait = max_wait
        self.made = 0

    def __call__(self, call: Callable[..., T], *args, **kwargs) -> T:
        account_id = self.account.instagram_id
        slot = ConversationsApiThrottle.reserve_slot(
            account_id, settings.CONVERSATIONS_API_RATE_PER_SECOND, self.max_wait
        )
        if slot > timezone.now() + self.max_wait:
            raise NotNow(slot, "waiting for the account's Conversations API pace")
        wait = (slot - timezone.now()).total_seconds()
        if wait > 0:
            time.sleep(wait)
        self.made += 1
        try:
            return call(*args, **kwargs)
        except graph.RateLimitedError as exc:
            until = ConversationsApiThrottle.pause(
                account_id, settings.CONVERSATIONS_API_RATE_LIMIT_PAUSE
            )
            raise NotNow(until, f"rate-limited by Meta: {exc}") from None
        except graph.InvalidTokenError as exc:
            self.account.mark_token_invalid(str(exc))
            raise
        except graph.PermanentGraphAPIError:
            raise
        except graph.TransientGraphAPIError as exc:
            raise NotNow(timezone.now() + TRANSIENT_RETRY, str(exc)) from None
