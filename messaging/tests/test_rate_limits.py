"""Per-account send rates: none sends faster than its rate; a throttled account waits alone."""

import itertools
import json
from datetime import timedelta
from unittest import mock

import pytest
import responses
from django.conf import settings
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from messaging.models import Message, SendThrottle
from messaging.outbox.sender import MAX_SLOT_WAIT
from messaging.tests.conftest import answer_send, load_payload, send_api_url, sends, with_mid

pytestmark = pytest.mark.django_db

A, B = "17841400000000001", "17841400000000002"


def test_slots_are_spaced_by_the_rate():
    slots = [SendThrottle.reserve_slot(A, 10, MAX_SLOT_WAIT) for _ in range(11)]
    gaps = {later - earlier for earlier, later in itertools.pairwise(slots)}
    assert gaps == {timedelta(milliseconds=100)}
    assert slots[-1] - slots[0] == timedelta(seconds=1)


def test_a_slot_further_than_the_wait_is_reported_not_taken():
    # The clock stands still: on a loaded machine eleven reservations could otherwise take
    # long enough for the twelfth slot to come within the wait.
    now = timezone.now()
    with mock.patch("django.utils.timezone.now", return_value=now):
        for _ in range(11):
            SendThrottle.reserve_slot(A, 10, MAX_SLOT_WAIT)
        reserved_until = SendThrottle.objects.get(instagram_account_id=A).next_slot_at
        later = SendThrottle.reserve_slot(A, 10, MAX_SLOT_WAIT)
    assert later > now + MAX_SLOT_WAIT
    assert SendThrottle.objects.get(instagram_account_id=A).next_slot_at == reserved_until


def test_several_sends_reserve_only_the_slots_they_will_use():
    now = timezone.now()
    SendThrottle.objects.create(instagram_account_id=A, next_slot_at=now + timedelta(seconds=0.75))
    with mock.patch("django.utils.timezone.now", return_value=now):
        slots, reserved = SendThrottle.reserve_slots(A, 10, MAX_SLOT_WAIT, [1, 1, 1, 1])
    # Slots at 0.75, 0.85, 0.95 s fit in the wait; the fourth (1.05 s) does not, and the
    # account's pace keeps it for a later send.
    assert (slots[0], reserved) == (now + timedelta(seconds=0.75), 3)
    assert slots[3] == now + timedelta(seconds=1.05)
    next_slot_at = SendThrottle.objects.get(instagram_account_id=A).next_slot_at
    assert next_slot_at == now + timedelta(seconds=1.05)


def test_each_account_has_its_own_rate():
    for _ in range(11):
        SendThrottle.reserve_slot(A, 10, MAX_SLOT_WAIT)
    assert SendThrottle.reserve_slot(B, 10, MAX_SLOT_WAIT) <= timezone.now()


def test_a_pause_holds_only_that_account():
    until = SendThrottle.pause(A, settings.SEND_RATE_LIMIT_PAUSE)
    assert SendThrottle.reserve_slot(A, 100, MAX_SLOT_WAIT) == until
    assert SendThrottle.reserve_slot(B, 100, MAX_SLOT_WAIT) <= timezone.now()


@pytest.fixture
def slow_shop(settings):
    shop = InstagramBusinessAccount(instagram_id=A, name="Slow shop", max_sends_per_second=2)
    shop.set_access_token("EAAG-slow")
    shop.save()
    return shop


def test_the_worker_never_sends_faster_than_the_accounts_rate(
    slow_shop, deliver, graph_api, run_worker
):
    payload = load_payload("messages__text")
    for n in range(5):  # five customers write at once
        customer = with_mid(payload, f"m{n}")
        customer["entry"][0]["messaging"][0]["sender"]["id"] = f"55500{n}"
        deliver(customer)
    answer_send(graph_api, times=5)

    waited_for = []
    with mock.patch("messaging.outbox.calls._sleep_until", side_effect=waited_for.append):
        run_worker()

    # 2 a second: every call on its slot, 0.5 s after the one before (now, +0.5 s, +1 s go
    # out at once; a slot past the worker's one-second wait is not waited for): the rest come
    # back later, no attempt spent. (A round's calls go side by side: their slots, sorted.)
    made = len(sends(graph_api))
    assert made >= 3 and len(waited_for) == made
    gaps = {b - a for a, b in itertools.pairwise(sorted(waited_for))}
    assert gaps == {timedelta(milliseconds=500)}
    deferred = Message.objects.filter(author="bot", status="queued")
    assert deferred.count() == 5 - made
    assert all(m.attempts == 0 and m.due_at > timezone.now() for m in deferred)


def test_a_rate_limit_answer_pauses_that_account_and_not_the_others(
    slow_shop, deliver, graph_api, run_worker, settings
):
    bakery = InstagramBusinessAccount(instagram_id=B, name="Bakery")
    bakery.set_access_token("EAAG-bakery")
    bakery.save()
    for account_id, mid in [(A, "m-a"), (B, "m-b")]:
        payload = with_mid(load_payload("messages__text"), mid)
        payload["entry"][0]["id"] = account_id
        payload["entry"][0]["messaging"][0]["recipient"]["id"] = account_id
        deliver(payload)
    # Meta throttles the slow shop (its token), whichever of the round's calls comes first.
    throttled = {"error": {"message": "(#613) Calls exceeded", "code": 613}}

    def answer(request):
        if request.headers["Authorization"] == "Bearer EAAG-slow":
            return 400, {}, json.dumps(throttled)
        return 200, {}, json.dumps({"recipient_id": "1", "message_id": "m-sent"})

    graph_api.add_callback(responses.POST, send_api_url(), callback=answer)

    with mock.patch("messaging.outbox.calls._sleep_until"):
        run_worker()

    limited = Message.objects.get(author="bot", conversation__instagram_account_id=A)
    assert limited.status == "queued"
    paused_until = SendThrottle.objects.get(instagram_account_id=A).paused_until
    assert paused_until >= timezone.now() + timedelta(seconds=settings.SEND_RATE_LIMIT_PAUSE - 5)
    assert limited.due_at >= paused_until
    assert Message.objects.get(author="bot", conversation__instagram_account_id=B).status == "sent"
    assert SendThrottle.objects.get(instagram_account_id=B).paused_until is None


def test_an_accounts_own_rate_above_the_services_is_capped_at_the_services(
    deliver, graph_api, run_worker, settings
):
    settings.SEND_RATE_PER_SECOND = 5
    eager = InstagramBusinessAccount(instagram_id=A, name="Eager shop", max_sends_per_second=50)
    eager.set_access_token("EAAG-eager")
    eager.save()
    payload = load_payload("messages__text")
    for n in range(7):  # seven customers write at once
        customer = with_mid(payload, f"m{n}")
        customer["entry"][0]["messaging"][0]["sender"]["id"] = f"55500{n}"
        deliver(customer)
    answer_send(graph_api, times=7)

    waited_for = []
    with mock.patch("messaging.outbox.calls._sleep_until", side_effect=waited_for.append):
        run_worker()

    # 5 a second, not 50: slots 0.2 s apart. Those within the second a worker waits for
    # in-process are sent; the rest wait in the queue for their slot.
    gaps = {b - a for a, b in itertools.pairwise(sorted(waited_for))}
    assert gaps == {timedelta(milliseconds=200)}
    queued = Message.objects.filter(author="bot", status="queued").count()
    assert len(sends(graph_api)) + queued == 7
