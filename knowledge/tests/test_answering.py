"""The bot answers from knowledge after the rules and before the fallback, under guardrails."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.tests.conftest import SHOP_A_ID
from knowledge.asking import ask_awaited
from knowledge.models import KnowledgeAnswer, KnowledgeSettings
from knowledge.tests.conftest import dm
from messaging.models import Conversation, Message
from rules.matching import Incoming, answer
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

CUSTOMER = "1234567890123456"
FALLBACK = "Thanks for your message! We'll get back to you soon."


def ask(deliver, text: str, n: int = 1) -> Message | None:
    deliver(dm(SHOP_A_ID, CUSTOMER, f"mid.ask-{n}", text))
    while ask_awaited():  # the worker's step: the assistant, if awaited, until it answered
        pass
    question = Message.objects.get(mid=f"mid.ask-{n}")
    return question.replies.filter(author=Message.Author.BOT).first()


def test_a_paraphrased_question_gets_the_entrys_answer(
    deliver, shop_a, shop_knowledge, knowledge_on
):
    reply = ask(deliver, "open on sunday??")
    assert reply.text == shop_knowledge["Opening hours"].answer
    recorded = KnowledgeAnswer.objects.get()
    assert (recorded.kind, recorded.reply, recorded.question.mid) == ("faq", reply, "mid.ask-1")
    assert recorded.entry_titles() == "Opening hours"
    assert not Conversation.objects.get().needs_reply


def test_the_link_goes_under_the_answer(deliver, shop_a, shop_knowledge, knowledge_on):
    reply = ask(deliver, "what's your return policy?")
    assert reply.text.endswith("\nhttps://casalumen.example.com/returns")


def test_rules_answer_first(deliver, shop_a, shop_knowledge, knowledge_on):
    ResponseRule.objects.create(keywords="sunday", response_text="Rule!", account=shop_a)
    assert ask(deliver, "open on sunday??").text == "Rule!"
    assert not KnowledgeAnswer.objects.exists()


def test_an_unsure_match_goes_to_the_fallback_and_waits_for_a_person(
    deliver, shop_a, shop_knowledge, knowledge_on
):
    reply = ask(deliver, "do you sell shoes?")
    assert reply.text == FALLBACK and reply.is_fallback
    assert Conversation.objects.get().needs_reply
    handoff = KnowledgeAnswer.objects.get()
    assert handoff.kind == "handoff" and handoff.reply is None
    assert handoff.reason


def test_the_threshold_is_the_accounts(deliver, shop_a, shop_knowledge, knowledge_on):
    knowledge_on.min_confidence = 1.0
    knowledge_on.save()
    assert ask(deliver, "whats the address of the store").is_fallback


def test_knowledge_is_off_without_settings_or_when_switched_off(deliver, shop_a, shop_knowledge):
    assert ask(deliver, "open on sunday??", 1).is_fallback
    KnowledgeSettings.objects.create(account=shop_a, mode="off")
    assert ask(deliver, "open on saturday?", 2) is None  # the fallback's cooldown
    assert not KnowledgeAnswer.objects.exists()


@pytest.mark.parametrize("silence", ["paused", "taken_over"])
def test_never_while_a_person_has_taken_over_or_the_bot_is_paused(
    deliver, shop_a, shop_knowledge, knowledge_on, silence
):
    ask(deliver, "hi", 1)
    conversation = Conversation.objects.get()
    if silence == "paused":
        conversation.pause_bot()
    else:
        conversation.take_over(timezone.now() + timedelta(hours=1))
    assert ask(deliver, "open on sunday??", 2) is None
    assert not KnowledgeAnswer.objects.filter(kind="faq").exists()


def test_at_most_n_answers_in_a_row_without_a_person(deliver, shop_a, shop_knowledge, knowledge_on):
    knowledge_on.max_answers_in_a_row = 2
    knowledge_on.save()
    assert not ask(deliver, "when are you open?", 1).is_fallback
    assert not ask(deliver, "whats the address of the store", 2).is_fallback
    third = ask(deliver, "can i pay with apple pay?", 3)
    assert third.is_fallback
    assert "in a row" in KnowledgeAnswer.objects.get(kind="handoff").reason
    assert Conversation.objects.get().needs_reply
    # A person answers: the count starts again.
    conversation = Conversation.objects.get()
    Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUTGOING,
        author=Message.Author.STAFF,
        text="Hi, Ana here",
        status=Message.Status.SENT,
    )
    conversation.resume_bot()
    assert not ask(deliver, "can i pay with apple pay?", 4).is_fallback


def test_no_other_accounts_entries_ever_answer(deliver, shop_a, shop_b, knowledge_on):
    from knowledge.tests.conftest import load_shop_knowledge

    load_shop_knowledge(shop_b)
    assert ask(deliver, "open on sunday??").is_fallback


def test_try_a_message_shows_the_answer_without_recording(shop_a, shop_knowledge, knowledge_on):
    reply, _ = answer(shop_a, Incoming(text="¿Puedo cambiar el vestido por otra talla?"))
    assert reply.answer.kind == "faq"
    assert not KnowledgeAnswer.objects.exists()


def test_a_bug_in_knowledge_costs_no_answer(deliver, shop_a, shop_knowledge, knowledge_on):
    from unittest import mock

    with mock.patch("knowledge.answering.index_for", side_effect=ValueError("a bug")):
        reply = ask(deliver, "open on sunday??")
    assert reply.text == FALLBACK
    assert Conversation.objects.get().needs_reply
