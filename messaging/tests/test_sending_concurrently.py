"""The sender sends a round of due rows side by side: several accounts' replies at once, one
account's rate limit pausing only that account, a customer's messages (and the parts of one
long reply) one after another in order, no row twice, the database only in the pass's
thread."""

import json
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import responses
from cryptography.fernet import Fernet
from django.db import connections

from accounts.models import InstagramBusinessAccount
from messaging import outbox
from messaging.models import Message, SendThrottle
from messaging.outbox import calls, claiming
from messaging.sending import send_replies
from messaging.tests.conftest import load_payload, send_api_url, with_mid
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

SHOPS = ["17841400000000011", "17841400000000012", "17841400000000013"]


@pytest.fixture
def shops(db):
    made = []
    for n, instagram_id in enumerate(SHOPS):
        shop = InstagramBusinessAccount(instagram_id=instagram_id, name=f"Shop {n}")
        shop.set_access_token(f"EAAG-shop-{n}")
        shop.save()
        made.append(shop)
    return made


def dm_to(account_id: str, customer: str, mid: str, text: str = "hello") -> dict:
    payload = with_mid(load_payload("messages__text"), mid, text)
    payload["entry"][0]["id"] = account_id
    item = payload["entry"][0]["messaging"][0]
    item["recipient"]["id"] = account_id
    item["sender"]["id"] = customer
    return payload


class Meta:
    """The Send API, answering from the pool's threads: what was in flight at once, per
    recipient and in all, and what each recipient got, in order."""

    def __init__(self, graph_api, answer=None):
        self.lock = threading.Lock()
        self.in_flight = Counter()
        self.most_at_once = 0
        self.most_at_once_per_recipient = 0
        self.received = defaultdict(list)
        self.answer = answer or (lambda recipient, body: (200, {"message_id": f"m-{recipient}"}))
        self.gate = None  # a Barrier the calls wait at, to show they are in flight together
        graph_api.add_callback(responses.POST, send_api_url(), callback=self.callback)

    def callback(self, request):
        body = json.loads(request.body)
        recipient = body["recipient"]["id"]
        with self.lock:
            self.in_flight[recipient] += 1
            self.most_at_once = max(self.most_at_once, sum(self.in_flight.values()))
            self.most_at_once_per_recipient = max(
                self.most_at_once_per_recipient, self.in_flight[recipient]
            )
            self.received[recipient].append(body.get("message", {}).get("text"))
        try:
            if self.gate is not None:
                self.gate.wait()  # BrokenBarrierError (a 500) if the others never come
            status, answer = self.answer(recipient, body)
        except threading.BrokenBarrierError:
            status, answer = 500, {"error": {"message": "alone at the gate", "code": 2}}
        finally:
            with self.lock:
                self.in_flight[recipient] -= 1
        return status, {}, json.dumps(answer)


def send_everything():
    while outbox.send_due():
        pass


def test_several_accounts_replies_are_sent_side_by_side(shops, deliver, graph_api):
    meta = Meta(graph_api)
    for n, shop in enumerate(shops):
        deliver(dm_to(shop.instagram_id, f"5550{n}", f"mid-{n}"))
    # Each call waits until the three are in flight at once: one after another, the first
    # would wait alone and fail.
    meta.gate = threading.Barrier(3, timeout=10)

    assert outbox.send_due() == 3

    assert meta.most_at_once == 3
    replies = Message.objects.filter(author="bot")
    assert sorted(replies.values_list("status", flat=True)) == ["sent"] * 3
    assert all(reply.attempts == 1 for reply in replies)


def test_one_accounts_rate_limit_pauses_it_and_the_others_go_on(shops, deliver, graph_api):
    limited = shops[0].instagram_id
    customers_of_limited = {"55500", "55501"}

    def answer(recipient, body):
        if recipient in customers_of_limited:
            return 400, {"error": {"message": "(#613) Calls exceeded", "code": 613}}
        return 200, {"message_id": f"m-{recipient}"}

    meta = Meta(graph_api, answer)
    deliver(dm_to(limited, "55500", "mid-a1"))
    deliver(dm_to(limited, "55501", "mid-a2"))
    deliver(dm_to(shops[1].instagram_id, "55510", "mid-b"))
    deliver(dm_to(shops[2].instagram_id, "55520", "mid-c"))

    outbox.send_due()

    waiting = Message.objects.filter(author="bot", conversation__instagram_account_id=limited)
    paused_until = SendThrottle.objects.get(instagram_account_id=limited).paused_until
    assert paused_until is not None
    for reply in waiting:
        # Put back for after the pause, the attempt not counted: Meta refused the pace.
        assert (reply.status, reply.attempts) == ("queued", 0)
        assert reply.due_at >= paused_until
    bot = Message.objects.filter(author="bot")
    others = bot.exclude(conversation__instagram_account_id=limited)
    assert sorted(others.values_list("status", flat=True)) == ["sent", "sent"]
    assert len(meta.received["55510"]) == len(meta.received["55520"]) == 1
    assert SendThrottle.objects.filter(paused_until__isnull=False).count() == 1


def test_a_lost_key_and_a_refused_token_in_a_round_are_each_recorded_as_ever(
    shops, deliver, graph_api, settings
):
    def answer(recipient, body):
        if recipient == "55510":  # the second shop's token: Meta refuses it (190)
            return 400, {"error": {"message": "Session has expired", "code": 190}}
        return 200, {"message_id": f"m-{recipient}"}

    meta = Meta(graph_api, answer)
    for n, shop in enumerate(shops):
        deliver(dm_to(shop.instagram_id, f"555{n}0", f"mid-{n}"))
    # The first shop's token was stored under a key this process does not have.
    keys = settings.FIELD_ENCRYPTION_KEY
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    shops[0].set_access_token("EAAG-lost")
    shops[0].save()
    settings.FIELD_ENCRYPTION_KEY = keys

    outbox.send_due()

    by_customer = {
        reply.conversation.customer_id: reply
        for reply in Message.objects.filter(author="bot").select_related("conversation")
    }
    waiting = by_customer["55500"]
    assert (waiting.status, waiting.attempts, waiting.waiting_for) == ("queued", 0, "credentials")
    refused = by_customer["55510"]
    assert refused.status == "failed" and refused.last_error.startswith("invalid access token")
    shops[1].refresh_from_db()
    assert shops[1].token_is_invalid
    assert by_customer["55520"].status == "sent"
    assert "55500" not in meta.received  # nothing went to Meta without its token


def test_the_parts_of_a_long_reply_and_a_customers_replies_go_in_order(shops, deliver, graph_api):
    meta = Meta(graph_api)
    long_text = " ".join(f"word{n}" for n in range(600))  # about 4,300 bytes: five parts
    ResponseRule.objects.create(keywords="catalogue", response_text=long_text)
    ResponseRule.objects.create(keywords="hours", response_text="Open 9 to 5.")
    shop = shops[0].instagram_id
    deliver(dm_to(shop, "55500", "mid-1", "the catalogue please"))
    deliver(dm_to(shop, "55500", "mid-2", "and your hours?"))
    for n in range(4):  # other customers' replies in the same rounds
        deliver(dm_to(shops[1].instagram_id, f"5560{n}", f"mid-o{n}"))

    send_everything()

    parts = list(
        Message.objects.filter(author="bot", conversation__customer_id="55500")
        .exclude(text="Open 9 to 5.")
        .order_by("part")
        .values_list("text", flat=True)
    )
    assert len(parts) >= 4
    received = meta.received["55500"]
    # The first reply's first part, then the second reply (queued after it) and the first
    # reply's later parts each released by the one before: never two at once.
    assert received[0] == parts[0]
    assert [text for text in received if text != "Open 9 to 5."] == parts
    assert " ".join(parts).split() == long_text.split()
    assert meta.most_at_once_per_recipient == 1
    assert set(Message.objects.filter(author="bot").values_list("status", flat=True)) == {"sent"}


def test_each_accounts_rows_in_a_round_are_capped(shops, deliver, graph_api):
    Meta(graph_api)
    for n in range(8):
        deliver(dm_to(shops[0].instagram_id, f"5570{n}", f"mid-{n}"))
    deliver(dm_to(shops[1].instagram_id, "55800", "mid-b"))

    assert outbox.send_due() == claiming.SENDS_PER_ACCOUNT + 1

    other = Message.objects.get(author="bot", conversation__instagram_account_id=SHOPS[1])
    assert other.status == "sent"  # in the first round, beside the busy account's first four


def test_a_send_that_touches_the_database_in_the_pool_fails_loudly_alone(
    shops, deliver, graph_api, monkeypatch
):
    Meta(graph_api)
    for n, shop in enumerate(shops):
        deliver(dm_to(shop.instagram_id, f"5590{n}", f"mid-{n}"))
    kind = outbox.kind_named("dm")
    send = type(kind).send

    def careless(self, row, client):
        if row.conversation.customer_id == "55900":
            Message.objects.count()  # a query in the pool's thread
        return send(self, row, client)

    monkeypatch.setattr(type(kind), "send", careless)

    outbox.send_due()

    statuses = dict(
        Message.objects.filter(author="bot").values_list("conversation__customer_id", "status")
    )
    # Left claimed for the stall sweep, as any send that failed unexpectedly.
    assert statuses == {"55900": "sending", "55901": "sent", "55902": "sent"}


def test_the_pool_refuses_the_database():
    def query():
        try:
            with calls.no_database():
                return Message.objects.count()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool, pytest.raises(calls.DatabaseInSenderThread):
        pool.submit(query).result()


def test_a_batchs_replies_are_sent_at_once_side_by_side(shops, deliver, graph_api):
    meta = Meta(graph_api)
    for n, shop in enumerate(shops):
        deliver(dm_to(shop.instagram_id, f"5550{n}", f"mid-{n}"))
    meta.gate = threading.Barrier(3, timeout=10)

    send_replies(list(Message.objects.filter(author="bot")))

    assert meta.most_at_once == 3
    assert set(Message.objects.filter(author="bot").values_list("status", flat=True)) == {"sent"}


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_at_once_send_each_row_once(shops, deliver, graph_api, monkeypatch):
    # Two workers: each thread claims under a name of its own, as two processes do.
    monkeypatch.setattr(claiming, "this_worker", lambda: f"worker-{threading.get_ident()}")
    meta = Meta(graph_api)
    customers = [f"5600{n}" for n in range(12)]
    for n, customer in enumerate(customers):
        deliver(dm_to(shops[n % 3].instagram_id, customer, f"mid-{n}"))

    def worker():
        try:
            send_everything()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(worker), pool.submit(worker)]:
            done.result()

    assert {customer: len(meta.received[customer]) for customer in customers} == dict.fromkeys(
        customers, 1
    )
    assert set(Message.objects.filter(author="bot").values_list("status", flat=True)) == {"sent"}


def test_each_call_is_recorded_as_it_ends_not_when_the_rounds_slowest_does(
    shops, deliver, graph_api, monkeypatch
):
    """A worker killed while one call hangs leaves only that call in doubt: the others of the
    round are recorded sent already (the stall sweep would send them again otherwise)."""
    from messaging.outbox import outcomes

    recorded = threading.Event()
    slow_call_saw_others_recorded = []

    def answer(recipient, body):
        if recipient == "55500":  # the slow one: it ends once another call is recorded
            slow_call_saw_others_recorded.append(recorded.wait(timeout=5))
        return 200, {"message_id": f"m-{recipient}"}

    record_each = outcomes.record_each

    def record_and_tell(calls):
        record_each(calls)
        recorded.set()

    monkeypatch.setattr(outcomes, "record_each", record_and_tell)
    Meta(graph_api, answer)
    deliver(dm_to(shops[0].instagram_id, "55500", "mid-slow"))
    deliver(dm_to(shops[1].instagram_id, "55510", "mid-quick"))

    assert outbox.send_due() == 2

    assert slow_call_saw_others_recorded == [True]
    replies = Message.objects.filter(author="bot")
    assert sorted(replies.values_list("status", flat=True)) == ["sent", "sent"]


def test_a_batchs_replies_go_in_rounds_capped_per_account_each_customers_in_order(
    shops, deliver, graph_api, monkeypatch
):
    from messaging.outbox import sender

    meta = Meta(graph_api)
    rounds = []
    send_claimed = sender.send_claimed

    def note_round(claimed, deferred=None, in_hand=None):
        rounds.append([Message.objects.get(pk=pk).conversation.customer_id for _, pk in claimed])
        send_claimed(claimed, deferred, in_hand)

    monkeypatch.setattr(sender, "send_claimed", note_round)
    busy, other = shops[0].instagram_id, shops[1].instagram_id
    ResponseRule.objects.create(keywords="hours", response_text="Open 9 to 5.")
    deliver(dm_to(busy, "55700", "mid-first"))  # the busy account's customer writes twice
    for n in range(1, 5):
        deliver(dm_to(busy, f"5570{n}", f"mid-{n}"))
    deliver(dm_to(busy, "55700", "mid-again", "and your hours?"))
    deliver(dm_to(other, "55800", "mid-b1"))
    deliver(dm_to(other, "55801", "mid-b2"))

    send_replies(list(Message.objects.filter(author="bot")))

    # At most SENDS_PER_ACCOUNT of an account a round: the other account's beside the busy
    # one's first four, the rest in the next round, after the first.
    assert rounds == [
        ["55700", "55701", "55702", "55703", "55800", "55801"],
        ["55704", "55700"],
    ]
    assert meta.received["55700"] == [
        "Thanks for your message! We'll get back to you soon.",
        "Open 9 to 5.",
    ]
    assert set(Message.objects.filter(author="bot").values_list("status", flat=True)) == {"sent"}


def test_a_rounds_calls_take_the_accounts_pace_in_one_reservation(
    shops, deliver, graph_api, settings, monkeypatch
):
    from messaging.outbox import sender

    Meta(graph_api)
    settings.SEND_RATE_PER_SECOND = 10  # a call every 0.1 s
    monkeypatch.setattr(sender, "MAX_SLOT_WAIT", sender.timedelta(seconds=0.25))
    reservations = []
    reserve = SendThrottle.reserve_slots

    def reserve_and_note(account_id, rate, max_wait, calls):
        slots, reserved = reserve(account_id, rate, max_wait, calls)
        reservations.append((account_id, reserved))
        return slots, reserved

    monkeypatch.setattr(SendThrottle, "reserve_slots", reserve_and_note)
    for n in range(4):
        deliver(dm_to(shops[0].instagram_id, f"5590{n}", f"mid-{n}"))
    replies = list(Message.objects.filter(author="bot").order_by("pk"))

    send_replies(replies)

    # One reservation for the round, of the calls that fit in the wait: 0, 0.1 and 0.2 s.
    # The fourth's slot (0.3 s) is further: put back for it, its attempt not counted.
    assert reservations == [(shops[0].instagram_id, 3)]
    for reply in replies:
        reply.refresh_from_db()
    assert [reply.status for reply in replies] == ["sent", "sent", "sent", "queued"]
    assert (replies[3].attempts, replies[3].waiting_for) == (0, "rate")


def test_two_sends_answered_with_one_id_are_recorded_one_by_one(shops, deliver, graph_api):
    # Meta never does this; were it to, the later recorded takes the id (as one by one).
    Meta(graph_api, lambda recipient, body: (200, {"message_id": "m-same"}))
    deliver(dm_to(shops[0].instagram_id, "55600", "mid-1"))
    deliver(dm_to(shops[1].instagram_id, "55601", "mid-2"))

    send_replies(list(Message.objects.filter(author="bot")))

    replies = Message.objects.filter(author="bot")
    assert sorted(replies.values_list("status", flat=True)) == ["sent", "sent"]
    assert sorted(str(mid) for mid in replies.values_list("mid", flat=True)) == ["None", "m-same"]


def test_a_customers_replies_left_for_later_by_the_pace_stay_in_order(
    shops, deliver, graph_api, settings, monkeypatch
):
    from messaging.outbox import sender

    meta = Meta(graph_api)
    settings.SEND_RATE_PER_SECOND = 10  # a call every 0.1 s
    monkeypatch.setattr(sender, "MAX_SLOT_WAIT", sender.timedelta(seconds=0.25))
    ResponseRule.objects.create(keywords="hours", response_text="Open 9 to 5.")
    account = shops[0].instagram_id
    for n in range(1, 4):
        deliver(dm_to(account, f"5600{n}", f"mid-{n}"))
    deliver(dm_to(account, "56000", "mid-first"))  # fourth in the first round: its slot is late
    deliver(dm_to(account, "56000", "mid-again", "and your hours?"))  # in the second round
    replies = list(Message.objects.filter(author="bot").order_by("pk"))

    send_replies(replies)

    # The first round's three calls waited for their slots (0, 0.1, 0.2 s): by the second
    # round the customer's second reply's slot would be within the wait. It waits with the
    # first, at the same time, so that the queue's order sends them in order.
    first, again = (Message.objects.get(pk=reply.pk) for reply in replies[3:])
    assert (first.status, again.status) == ("queued", "queued")
    assert first.due_at == again.due_at
    assert meta.received["56000"] == []
    while outbox.send_due() == 0:  # the poll, once they are due
        threading.Event().wait(0.05)
    assert meta.received["56000"] == [
        "Thanks for your message! We'll get back to you soon.",
        "Open 9 to 5.",
    ]


def test_a_round_the_database_failed_does_not_hold_back_the_next(
    shops, deliver, graph_api, monkeypatch
):
    from django.db import DatabaseError

    from messaging.outbox import sender

    meta = Meta(graph_api)
    send_claimed = sender.send_claimed
    rounds = []

    def first_round_fails(claimed, deferred=None, in_hand=None):
        rounds.append(claimed)
        if len(rounds) == 1:
            raise DatabaseError("server closed the connection unexpectedly")
        send_claimed(claimed, deferred, in_hand)

    monkeypatch.setattr(sender, "send_claimed", first_round_fails)
    for n in range(5):  # one account: four in the first round, the fifth in the second
        deliver(dm_to(shops[0].instagram_id, f"5610{n}", f"mid-{n}"))

    with pytest.raises(DatabaseError):
        send_replies(list(Message.objects.filter(author="bot")))

    assert len(rounds) == 2
    assert list(meta.received) == ["56104"]  # the second round went; the first is the sweep's
