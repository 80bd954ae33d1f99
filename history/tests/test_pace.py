"""Meta allows 2 Conversations API calls a second per account: every worker shares that pace."""

import itertools
import threading
from datetime import timedelta

import pytest

from history.calls import NotNow, PacedCalls
from history.models import ConversationsApiThrottle
from history.tests.conftest import ACCOUNT_ID
from meta import conversations, graph

pytestmark = pytest.mark.django_db(transaction=True)

MAX_WAIT = timedelta(seconds=5)


def test_slots_are_half_a_second_apart_at_metas_pace():
    slots = [ConversationsApiThrottle.reserve_slot(ACCOUNT_ID, 2, MAX_WAIT) for _ in range(5)]
    assert {b - a for a, b in itertools.pairwise(slots)} == {timedelta(milliseconds=500)}


def test_a_slot_further_than_the_wait_is_reported_not_taken(account):
    ConversationsApiThrottle.pause(ACCOUNT_ID, 60)
    with pytest.raises(NotNow):
        PacedCalls(account, MAX_WAIT)(lambda: None)


@pytest.mark.slow  # six calls at Meta's pace of two a second
def test_two_workers_calling_at_once_keep_metas_pace(account, meta, settings):
    settings.CONVERSATIONS_API_RATE_PER_SECOND = 2
    meta.inbox.rate_per_second = 2  # the fake refuses what Meta would
    meta.inbox.add("9000000000000001", "hi")
    failures = []

    def worker():
        call = PacedCalls(account, MAX_WAIT)
        try:
            for _ in range(3):
                call(call.client.list_conversations, ACCOUNT_ID)
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert [call["outcome"] for call in meta.inbox.calls] == ["ok"] * 6


def test_calls_that_ignore_the_pace_are_refused_as_meta_refuses_them(account, meta):
    meta.inbox.rate_per_second = 2
    client = conversations.history_client_for(account)
    with pytest.raises(graph.RateLimitedError, match="613"):
        for _ in range(3):
            client.list_conversations(ACCOUNT_ID)
