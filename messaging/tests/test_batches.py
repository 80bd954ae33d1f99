"""The worker takes the deliveries waiting in batches (receiving.take_waiting_deliveries,
messaging.batch): what holds for one DM holds for a batch of them. Order within a
conversation, stored once and answered once under duplicates, the fallback's cooldown, a
takeover, a bad event failing alone, a killed worker's batch taken back."""

import json
from unittest import mock

import pytest

from contacts.models import Contact, ContactField, FieldValue, RuleAction
from messaging import batch, receiving
from messaging.models import Conversation, Message, WebhookDelivery
from messaging.recovery import recover_work_of_dead_workers
from messaging.tests.conftest import answer_send, load_payload, sends, waiting_ids, with_mid
from messaging.tests.test_dead_workers import dead_worker, echo_to
from rules.matching import answer as real_answer
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

FALLBACK = "Thanks for your message! We'll get back to you soon."
ANA, BO, CY = "1000000000000001", "1000000000000002", "1000000000000003"


def dm(customer: str, mid: str, text: str = "hello") -> dict:
    payload = with_mid(load_payload("messages__text"), mid, text)
    payload["entry"][0]["messaging"][0]["sender"]["id"] = customer
    return payload


def answer_every_send(graph_api, count: int) -> None:
    for n in range(count):
        answer_send(graph_api, message_id=f"aWdfZAG1sent-{n}")


def sent_to(graph_api) -> list[tuple[str, str]]:
    """(customer, text) of each Send API call, in the order made."""
    calls = [json.loads(call.request.body) for call in sends(graph_api)]
    return [(call["recipient"]["id"], call["message"]["text"]) for call in calls]


def bot_replies():
    return Message.objects.filter(author="bot")


def incoming():
    return Message.objects.filter(direction="in")


@pytest.fixture
def price_rule(db):
    return ResponseRule.objects.create(keywords="price", response_text="It is 40 euros")


def test_twenty_dms_waiting_are_claimed_stored_and_answered_in_one_pass(
    deliver, graph_api, price_rule
):
    customers = [f"20000000000000{n:02d}" for n in range(20)]
    for customer in customers[:10]:  # ten returning customers, answered by the rule before
        deliver(dm(customer, f"aWdfZAG1earlier-{customer}", "price"))
    for n, customer in enumerate(customers):
        deliver(dm(customer, f"aWdfZAG1m{n}", "price?" if n % 2 else "hi"), handle=False)
    answer_every_send(graph_api, 20)

    assert receiving.take_waiting_deliveries() == 20

    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"processed"}
    assert incoming().count() == 30 and bot_replies().count() == 30
    assert bot_replies().filter(status="sent").count() == 20  # the earlier ten: left to the poll
    for n in range(20):
        reply = bot_replies().get(in_reply_to__mid=f"aWdfZAG1m{n}")
        assert reply.in_reply_to.mid == f"aWdfZAG1m{n}"
        assert reply.text == ("It is 40 euros" if n % 2 else FALLBACK)
        conversation = reply.conversation
        assert conversation.needs_reply is not (n % 2)  # the fallback: a person is needed
        assert conversation.last_message_at is not None
    # Every customer has their contact, new and returning alike, seen now.
    for n, customer in enumerate(customers):
        contact = Contact.objects.get(conversation__customer_id=customer)
        assert contact.last_seen_at == incoming().get(mid=f"aWdfZAG1m{n}").timestamp


def test_one_dm_waiting_goes_through_at_once(deliver, graph_api):
    deliver(dm(ANA, "aWdfZAG1alone"), handle=False)
    answer_send(graph_api)
    with mock.patch.object(batch, "handle_customer_messages") as together:
        assert receiving.take_waiting_deliveries() == 1
    together.assert_not_called()  # one message: the one-at-a-time path, no batch to fill
    assert bot_replies().get().status == "sent"


def test_a_delivery_repeated_in_one_batch_is_stored_once_and_answered_once(deliver, graph_api):
    for _ in range(3):
        deliver(dm(ANA, "aWdfZAG1twice"), handle=False)
    deliver(dm(BO, "aWdfZAG1other"), handle=False)
    # The same message again inside one delivery too.
    again = dm(CY, "aWdfZAG1inside")
    again["entry"][0]["messaging"] *= 2
    deliver(again, handle=False)
    answer_every_send(graph_api, 3)

    assert receiving.take_waiting_deliveries() == 5

    assert sorted(incoming().values_list("mid", flat=True)) == [
        "aWdfZAG1inside",
        "aWdfZAG1other",
        "aWdfZAG1twice",
    ]
    assert bot_replies().count() == 3
    assert len(sends(graph_api)) == 3
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"processed"}


def test_a_message_stored_before_the_batch_is_not_answered_again(deliver, graph_api):
    deliver(dm(ANA, "aWdfZAG1before"))  # stored and answered (left to the poll)
    deliver(dm(ANA, "aWdfZAG1before"), handle=False)
    deliver(dm(BO, "aWdfZAG1new"), handle=False)
    answer_send(graph_api)
    assert receiving.take_waiting_deliveries() == 2
    assert incoming().count() == 2 and bot_replies().count() == 2


def test_two_conversations_interleaved_keep_their_order(deliver, graph_api, price_rule):
    for n, (customer, text) in enumerate(
        [
            (ANA, "price one"),
            (BO, "price a"),
            (ANA, "price two"),
            (BO, "price b"),
            (ANA, "price three"),
        ]
    ):
        deliver(dm(customer, f"aWdfZAG1order{n}", text), handle=False)
    answer_every_send(graph_api, 5)

    assert receiving.take_waiting_deliveries() == 5

    for customer, texts in [
        (ANA, ["price one", "price two", "price three"]),
        (BO, ["price a", "price b"]),
    ]:
        stored = incoming().filter(conversation__customer_id=customer).order_by("pk")
        assert [m.text for m in stored] == texts
        answered = bot_replies().filter(conversation__customer_id=customer).order_by("pk")
        assert [r.in_reply_to.text for r in answered] == texts
        # Sent in the order the customer wrote.
        assert [r.in_reply_to.text for r in answered.order_by("timestamp", "pk")] == texts
    sent = [customer for customer, _ in sent_to(graph_api)]
    assert sent.count(ANA) == 3 and sent.count(BO) == 2


def test_lines_typed_at_once_get_one_fallback_in_a_batch(deliver, graph_api):
    for n in range(4):
        deliver(dm(ANA, f"aWdfZAG1line{n}", f"line {n}"), handle=False)
    deliver(dm(BO, "aWdfZAG1bo", "hey"), handle=False)
    answer_every_send(graph_api, 2)

    assert receiving.take_waiting_deliveries() == 5

    assert incoming().count() == 5
    # The fallback's cooldown holds inside a batch: one for each customer.
    assert sorted(bot_replies().values_list("conversation__customer_id", flat=True)) == [ANA, BO]


def test_a_takeover_earlier_in_the_batch_keeps_the_bot_silent(deliver, graph_api):
    # Staff wrote to Ana from the Instagram app, then Ana answered: both waiting together.
    deliver(echo_to(ANA, "aWdfZAG1staff", "I'll check for you"), handle=False)
    deliver(dm(ANA, "aWdfZAG1after-staff"), handle=False)
    deliver(dm(BO, "aWdfZAG1bo"), handle=False)
    answer_send(graph_api)

    assert receiving.take_waiting_deliveries() == 3

    assert incoming().filter(mid="aWdfZAG1after-staff").exists()
    assert list(bot_replies().values_list("conversation__customer_id", flat=True)) == [BO]
    assert Conversation.objects.get(customer_id=ANA).bot_is_paused()


def test_a_bad_event_fails_alone_not_its_batch(deliver, graph_api, caplog):
    malformed = dm(BO, "aWdfZAG1bo")
    del malformed["entry"][0]["messaging"][0]["message"]["mid"]
    deliver(dm(ANA, "aWdfZAG1good"), handle=False)
    deliver(dm(CY, "aWdfZAG1boom", "boom"), handle=False)
    deliver(malformed, handle=False)
    deliver(dm(BO, "aWdfZAG1fine", "fine"), handle=False)
    answer_every_send(graph_api, 2)

    def answer(account, incoming):
        if incoming.text == "boom":
            raise RuntimeError("boom")
        return real_answer(account, incoming)

    with mock.patch("messaging.replies.answer", side_effect=answer):
        assert receiving.take_waiting_deliveries() == 4

    states = dict(WebhookDelivery.objects.values_list("pk", "state"))
    assert sorted(states.values()) == ["failed", "processed", "processed", "processed"]
    failed = WebhookDelivery.objects.get(state="failed")
    assert "boom" in failed.error
    # The failing event rolled back whole (no message without its reply); the others stored
    # and answered.
    assert sorted(incoming().values_list("mid", flat=True)) == ["aWdfZAG1fine", "aWdfZAG1good"]
    assert bot_replies().filter(status="sent").count() == 2
    assert '"mid" is missing' in WebhookDelivery.objects.get(pk=max(states) - 1).error
    assert "handled one at a time" in caplog.text


def test_a_killed_workers_batch_is_taken_back_and_answered_once(
    deliver, graph_api, settings, run_worker
):
    dead = dead_worker(settings)
    for n, customer in enumerate([ANA, BO, CY]):
        deliver(dm(customer, f"aWdfZAG1killed{n}"), handle=False)
    batch_of = WebhookDelivery.objects.filter(pk__in=waiting_ids(20))
    # The dead worker had claimed the three and stored their messages and replies, then died
    # before sending them and before recording the deliveries as processed.
    with (
        mock.patch.object(receiving, "this_worker", return_value=dead),
        mock.patch("messaging.replies.this_worker", return_value=dead),
    ):
        held = WebhookDelivery.claim_all(list(batch_of), by=dead)
        outcomes = receiving.handle_batch(held)
    assert sum(len(outcome.replies) for outcome in outcomes) == 3
    WebhookDelivery.objects.update(state="processing", claimed_by=dead)  # it died first

    recovered = recover_work_of_dead_workers()
    assert (recovered.deliveries, recovered.handed_over) == (3, 3)
    answer_every_send(graph_api, 3)
    run_worker()

    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"processed"}
    assert incoming().count() == 3
    assert bot_replies().count() == 3
    assert set(bot_replies().values_list("status", flat=True)) == {"sent"}
    assert len(sends(graph_api)) == 3


def test_a_flow_asking_a_question_gets_its_answer_in_the_same_batch(deliver, graph_api):
    email = ContactField.objects.create(key="email", label="Email", kind="email")
    thanks = ResponseRule.objects.create(
        trigger="payload", payload="SUBSCRIBED", response_text="Thanks!"
    )
    ask = ResponseRule.objects.create(keywords="newsletter", response_text="What's your email?")
    RuleAction.objects.create(
        rule=ask, kind="ask", field=email, retry_text="Again?", then_rule=thanks
    )
    deliver(dm(ANA, "aWdfZAG1ask", "newsletter please"), handle=False)
    deliver(dm(ANA, "aWdfZAG1answer", "ana@example.com"), handle=False)
    deliver(dm(BO, "aWdfZAG1bo", "newsletter"), handle=False)
    answer_every_send(graph_api, 3)

    assert receiving.take_waiting_deliveries() == 3

    sent = sent_to(graph_api)
    assert [text for customer, text in sent if customer == ANA] == ["What's your email?", "Thanks!"]
    assert [text for customer, text in sent if customer == BO] == ["What's your email?"]
    assert FieldValue.objects.get().value == "ana@example.com"
    assert Contact.objects.get(conversation__customer_id=ANA).asking is None
    assert Contact.objects.get(conversation__customer_id=BO).asking is not None


def test_a_batch_claims_only_what_no_other_worker_took_meanwhile(deliver):
    for n in range(3):
        deliver(dm(ANA, f"aWdfZAG1race{n}"), handle=False)
    read = WebhookDelivery.waiting(20)
    assert WebhookDelivery.claim(read[1].pk, by="host:1:another")  # it won the race for one
    held = WebhookDelivery.claim_all(read, by="host:2:me")
    assert [d.pk for d in held] == [read[0].pk, read[2].pk]
    assert WebhookDelivery.objects.get(pk=read[1].pk).claimed_by == "host:1:another"
    assert WebhookDelivery.claim_all(read, by="host:3:late") == []


def test_long_replies_in_a_batch_are_queued_in_parts_in_order(deliver, graph_api):
    ResponseRule.objects.create(keywords="story", response_text="word " * 400)
    deliver(dm(ANA, "aWdfZAG1long1", "story"), handle=False)
    deliver(dm(BO, "aWdfZAG1long2", "story"), handle=False)
    with mock.patch.object(receiving, "send_replies"):
        assert receiving.take_waiting_deliveries() == 2
    for customer in (ANA, BO):
        parts = list(bot_replies().filter(conversation__customer_id=customer).order_by("part"))
        assert len(parts) > 1
        assert [p.part for p in parts] == list(range(1, len(parts) + 1))
        assert all(p.first_part_id == parts[0].pk for p in parts[1:])
        assert [p.is_last_part for p in parts] == [False] * (len(parts) - 1) + [True]
        assert parts[0].due_at is not None and parts[1].due_at is None


def test_a_batch_that_raises_together_is_handled_one_at_a_time(deliver, graph_api):
    for n, customer in enumerate([ANA, BO]):
        deliver(dm(customer, f"aWdfZAG1fallback{n}"), handle=False)
    answer_every_send(graph_api, 2)
    with mock.patch.object(batch, "_new_messages", side_effect=RuntimeError("a bug")):
        assert receiving.take_waiting_deliveries() == 2
    assert incoming().count() == 2 and bot_replies().filter(status="sent").count() == 2
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"processed"}


def test_answers_come_from_the_features_batch_forms(deliver):
    """The contacts' batch form: a returning customer something waits on goes through the
    one-message path, the others together."""
    deliver(dm(ANA, "aWdfZAG1first"))
    deliver(dm(BO, "aWdfZAG1first-bo"))
    deliver(dm(ANA, "aWdfZAG1stop", "STOP"), handle=False)
    deliver(dm(BO, "aWdfZAG1again", "hello again"), handle=False)
    with mock.patch.object(receiving, "send_replies"):
        assert receiving.take_waiting_deliveries() == 2
    assert Contact.objects.get(conversation__customer_id=ANA).opted_out
    bo = Contact.objects.get(conversation__customer_id=BO)
    assert bo.last_seen_at == incoming().get(mid="aWdfZAG1again").timestamp
    assert not bo.opted_out
