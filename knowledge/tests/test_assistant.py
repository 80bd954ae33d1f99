"""The assistant over an OpenAI-compatible endpoint (mocked with `responses`): grounded in the
account's entries, cut to Meta's limits, on a budget, and never costing a DM when it fails."""

import json
from datetime import timedelta

import pytest
import requests
import responses
from django.utils import timezone

from inbox.tests.conftest import SHOP_A_ID
from knowledge.answering import ASKING_STEP
from knowledge.asking import ask_awaited
from knowledge.assistant import CANNOT_ANSWER
from knowledge.models import KnowledgeAnswer, KnowledgeSettings
from knowledge.tests.conftest import dm, load_shop_knowledge
from knowledge.tests.test_answering import CUSTOMER, FALLBACK, ask
from messaging import replies, worker_pass
from messaging.models import Conversation, Message
from messaging.worker_identity import this_worker

pytestmark = pytest.mark.django_db

AI = "http://ai.test/v1"
COMPLETIONS = f"{AI}/chat/completions"
PAYMENTS = "can i pay with apple pay?"  # the built-in answers it confidently
SHOES = "do you sell shoes?"  # no entry answers it


@pytest.fixture
def ai(settings):
    settings.AI_BASE_URL = AI
    settings.AI_API_KEY = "sk-service"
    settings.AI_MODEL = "small-model"
    settings.AI_TIMEOUT = 2.0
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def assistant_on(shop_a):
    return KnowledgeSettings.objects.create(account=shop_a, mode=KnowledgeSettings.Mode.ASSISTANT)


def completion(text: str, prompt_tokens=120, completion_tokens=30) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "small-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chat_calls(ai) -> list:
    """The calls to the AI service (the worker also sends the reply it queued, to Meta)."""
    return [call for call in ai.calls if call.request.url == COMPLETIONS]


def sent_prompt(ai) -> dict:
    return json.loads(chat_calls(ai)[-1].request.body)


def test_the_assistant_answers_from_the_accounts_entries(
    deliver, ai, shop_a, shop_b, shop_knowledge, assistant_on
):
    theirs = load_shop_knowledge(shop_b)["Payment methods"]
    theirs.answer = "Shop B takes only Bizum and cash."
    theirs.save()
    ai.add(
        responses.POST,
        COMPLETIONS,
        json=completion("¡Sí! Aceptamos Apple Pay en la web.\nSOURCES: 1"),
    )
    reply = ask(deliver, "¿puedo pagar con apple pay?")
    assert reply.text == "¡Sí! Aceptamos Apple Pay en la web."
    body = sent_prompt(ai)
    assert body["model"] == "small-model"
    assert chat_calls(ai)[-1].request.headers["Authorization"] == "Bearer sk-service"
    prompt = json.dumps(body, ensure_ascii=False)
    assert "Apple Pay" in prompt and "Bizum and cash" not in prompt  # no other account's
    assert body["messages"][-1] == {"role": "user", "content": "¿puedo pagar con apple pay?"}
    recorded = KnowledgeAnswer.objects.get()
    assert (recorded.kind, recorded.model, recorded.prompt_tokens) == (
        "assistant",
        "small-model",
        120,
    )
    assert recorded.entry_titles() == "Payment methods"
    assert not Conversation.objects.get().needs_reply


def test_the_assistant_sees_the_last_messages(deliver, ai, shop_a, shop_knowledge, assistant_on):
    ai.add(responses.POST, COMPLETIONS, json=completion("Yes.\nSOURCES: 1"))
    ask(deliver, PAYMENTS, 1)
    ask(deliver, "and paypal?", 2)
    history = sent_prompt(ai)["messages"][1:]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[0]["content"] == PAYMENTS and history[-1]["content"] == "and paypal?"


def test_when_the_entries_do_not_answer_it_a_person_does(
    deliver, ai, shop_a, shop_knowledge, assistant_on
):
    ai.add(responses.POST, COMPLETIONS, json=completion(CANNOT_ANSWER))
    reply = ask(deliver, "do you sell shoes in my size?")
    assert reply.text == FALLBACK
    assert Conversation.objects.get().needs_reply
    handoff = KnowledgeAnswer.objects.get()
    assert (handoff.kind, handoff.model) == ("handoff", "small-model")


@pytest.mark.parametrize(
    "invented",
    [
        "Shipping is 3.50 € to Spain.",
        "See https://deals.example.net/sale for the sale.",
        "Write to sales@elsewhere.example for it.",
        "Call us at +34 600 111 222.",
        "Use code WELCOME for 25 % off.",
    ],
)
def test_an_answer_stating_what_no_entry_does_is_not_sent(
    deliver, ai, shop_a, shop_knowledge, assistant_on, invented
):
    ai.add(responses.POST, COMPLETIONS, json=completion(f"{invented}\nSOURCES: 1"))
    reply = ask(deliver, "how much is shipping to spain?")
    assert reply.text == FALLBACK
    assert Conversation.objects.get().needs_reply
    assert "states what no entry does" in KnowledgeAnswer.objects.get().reason


def test_prices_and_links_of_the_given_entries_are_fine(
    deliver, ai, shop_a, shop_knowledge, assistant_on
):
    text = "El envío cuesta 4,90 € y es gratis desde 60 €: https://casalumen.example.com/returns"
    ai.add(responses.POST, COMPLETIONS, json=completion(f"{text}\nSOURCES: 1, 2"))
    # Returns is among the entries given for a question about sending something back.
    reply = ask(deliver, "how much is shipping? and can i return an item?")
    assert reply.text == text


def test_a_long_answer_is_cut_to_one_message_at_a_sentence(
    deliver, ai, shop_a, shop_knowledge, assistant_on
):
    long = " ".join(["We accept Apple Pay online."] * 60)
    ai.add(responses.POST, COMPLETIONS, json=completion(long))
    reply = ask(deliver, PAYMENTS)
    assert len(reply.text.encode()) <= 1000
    assert reply.text.endswith("online.")
    assert reply.is_last_part


def fail_with(exception):
    def callback(request):
        raise exception

    return callback


@pytest.mark.parametrize(
    "answer",
    [
        {"callback": fail_with(requests.ReadTimeout("slow"))},
        {"callback": fail_with(requests.ConnectionError("refused"))},
        {"status": 500, "json": {"error": {"message": "overloaded"}}},
        {"status": 429, "json": {"error": {"message": "rate limited"}}},
        {"body": "<html>Bad gateway</html>"},
        {"json": {"choices": []}},
        {"json": {"choices": [{"message": {"content": None}}]}},
        {"json": completion("   ")},
        {"json": [[[[[]]]]]},
    ],
)
def test_a_slow_down_or_garbage_service_never_costs_the_dm(
    deliver, ai, shop_a, shop_knowledge, assistant_on, answer
):
    if "callback" in answer:
        ai.add_callback(responses.POST, COMPLETIONS, callback=answer["callback"])
    else:
        ai.add(responses.POST, COMPLETIONS, **answer)
    # Confident: the built-in answer goes.
    built_in = ask(deliver, PAYMENTS, 1)
    assert built_in.text == shop_knowledge["Payment methods"].answer
    recorded = KnowledgeAnswer.objects.get(reply=built_in)
    assert recorded.kind == "faq" and recorded.reason and recorded.model == "small-model"
    # Not confident: the fallback, and a person is asked for.
    assert ask(deliver, SHOES, 2).text == FALLBACK
    assert Conversation.objects.get().needs_reply


def test_a_service_slower_than_ai_timeout_is_not_waited_for(
    deliver, ai, settings, shop_a, shop_knowledge, assistant_on
):
    import time

    settings.AI_TIMEOUT = 0.3

    def slow(request):
        time.sleep(1.0)
        return (200, {}, json.dumps(completion("Too late.\nSOURCES: 1")))

    ai.add_callback(responses.POST, COMPLETIONS, callback=slow)
    reply = ask(deliver, PAYMENTS)
    # responses cannot time a read out: the answer came, but after AI_TIMEOUT it is not used.
    assert reply.text == shop_knowledge["Payment methods"].answer
    assert "AI_TIMEOUT" in KnowledgeAnswer.objects.get().reason


def test_past_the_daily_budget_only_built_in_answers(
    deliver, ai, shop_a, shop_knowledge, assistant_on
):
    assistant_on.daily_assistant_calls = 1
    assistant_on.save()
    ai.add(responses.POST, COMPLETIONS, json=completion("Yes, Apple Pay works.\nSOURCES: 1"))
    assert ask(deliver, PAYMENTS, 1).text == "Yes, Apple Pay works."
    second = ask(deliver, "do you accept paypal", 2)
    assert second.text == shop_knowledge["Payment methods"].answer
    assert len(chat_calls(ai)) == 1
    assert "daily budget" in KnowledgeAnswer.objects.get(reply=second).reason


def test_the_accounts_own_key_is_used(deliver, ai, settings, shop_a, shop_knowledge, assistant_on):
    from cryptography.fernet import Fernet

    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    assistant_on.ai_api_key = "sk-account"
    assistant_on.ai_model = "account-model"
    assistant_on.save()
    ai.add(responses.POST, COMPLETIONS, json=completion("Yes.\nSOURCES: 1"))
    ask(deliver, PAYMENTS)
    assert chat_calls(ai)[-1].request.headers["Authorization"] == "Bearer sk-account"
    assert sent_prompt(ai)["model"] == "account-model"


def test_without_an_ai_service_the_built_in_answers(
    deliver, ai, settings, shop_a, shop_knowledge, assistant_on
):
    settings.AI_BASE_URL = ""
    assert ask(deliver, PAYMENTS).text == shop_knowledge["Payment methods"].answer
    assert not chat_calls(ai)


def test_an_accounts_key_no_encryption_key_opens_leaves_built_in_answers(
    deliver, ai, settings, shop_a, shop_knowledge, assistant_on
):
    from cryptography.fernet import Fernet

    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    assistant_on.ai_api_key = "sk-account"
    assistant_on.save()
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]  # another key
    reply = ask(deliver, PAYMENTS)
    assert reply.text == shop_knowledge["Payment methods"].answer
    assert not chat_calls(ai)
    assert "cannot be decrypted" in KnowledgeAnswer.objects.get().reason


def test_try_a_message_shows_the_assistants_answer(
    admin_client, ai, shop_a, shop_knowledge, assistant_on
):
    ai.add(responses.POST, COMPLETIONS, json=completion("Sí, con Apple Pay.\nSOURCES: 1"))
    page = admin_client.get(
        "/admin/rules/responserule/try/",
        {"text": "¿puedo pagar con apple pay?", "account": shop_a.pk},
    ).content.decode()
    assert "The assistant would answer (small-model, 120 + 30 tokens" in page
    assert "Sí, con Apple Pay." in page
    assert not KnowledgeAnswer.objects.exists()


def test_the_dms_transaction_never_waits_for_the_assistant(
    deliver, ai, shop_a, shop_knowledge, assistant_on
):
    ai.add(responses.POST, COMPLETIONS, json=completion("Yes, Apple Pay works.\nSOURCES: 1"))
    deliver(dm(SHOP_A_ID, CUSTOMER, "mid.later", PAYMENTS))
    # Stored, and the answer recorded as awaited: nobody asked the assistant yet.
    assert not chat_calls(ai)
    awaited = KnowledgeAnswer.objects.get()
    assert (awaited.kind, awaited.claimed_by, awaited.model) == ("awaiting", "", "small-model")
    assert not Message.objects.filter(author="bot").exists()
    assert not Conversation.objects.get().needs_reply
    while ask_awaited():  # the worker's step, after the commit
        pass
    assert Message.objects.get(author="bot").text == "Yes, Apple Pay works."
    assert KnowledgeAnswer.objects.get().kind == "assistant"


@pytest.mark.django_db(transaction=True)  # the wake comes once the DM's transaction commits
def test_the_worker_asks_in_the_pass_that_stored_the_dm_though_the_step_rests(
    deliver, ai, shop_a, shop_knowledge, assistant_on, monkeypatch
):
    ai.add(responses.POST, COMPLETIONS, json=completion("Yes, Apple Pay works.\nSOURCES: 1"))
    names = ("Taking waiting deliveries", ASKING_STEP)
    work = [step for step in worker_pass.steps(worker_pass.Stage.WORK) if step.name in names]
    monkeypatch.setattr(worker_pass, "_steps", work)  # the DMs, then the assistant
    # The long-running worker's schedule, its clock stopped: a step that rests rests throughout.
    schedule = worker_pass.Schedule(clock=lambda: 0.0, rest=lambda: 60.0)
    assert worker_pass.run_pass(schedule).done == 0  # nothing awaited: the step rests
    deliver(dm(SHOP_A_ID, CUSTOMER, "mid.later", PAYMENTS), handle=False)
    worker_pass.run_pass(schedule)  # the DM's pass
    awaited = KnowledgeAnswer.objects.get()
    assert (awaited.kind, awaited.claimed_by) == ("awaiting", this_worker())  # asked in it
    while ask_awaited():
        pass
    assert Message.objects.get(author="bot").text == "Yes, Apple Pay works."


@pytest.mark.parametrize("silence", ["taken_over", "paused"])
def test_a_person_taking_over_while_the_assistant_is_asked_gets_no_bot_reply(
    deliver, ai, shop_a, shop_knowledge, assistant_on, silence
):
    ai.add(responses.POST, COMPLETIONS, json=completion("Yes, Apple Pay works.\nSOURCES: 1"))
    deliver(dm(SHOP_A_ID, CUSTOMER, "mid.later", PAYMENTS))
    conversation = Conversation.objects.get()
    if silence == "paused":
        replies.pause_bot(conversation)
    else:
        replies.pause_bot_for_takeover(conversation)
    while ask_awaited():
        pass
    assert not Message.objects.filter(author="bot").exists()
    handoff = KnowledgeAnswer.objects.get()
    assert handoff.kind == "handoff" and "not sent: the bot is silent" in handoff.reason


def test_an_answer_a_live_worker_is_asking_for_is_not_asked_again(
    deliver, ai, shop_a, shop_knowledge, assistant_on
):
    deliver(dm(SHOP_A_ID, CUSTOMER, "mid.later", PAYMENTS))
    KnowledgeAnswer.objects.update(claimed_by="other:1:abc", claimed_at=timezone.now())
    assert ask_awaited() == 0
    assert not chat_calls(ai) and not Message.objects.filter(author="bot").exists()


def test_a_claim_its_worker_left_is_taken_again_and_the_built_in_answer_goes_once(
    deliver, ai, settings, shop_a, shop_knowledge, assistant_on
):
    deliver(dm(SHOP_A_ID, CUSTOMER, "mid.later", PAYMENTS))
    # Its worker died while asking, AI_TIMEOUT and the grace ago.
    long_ago = timezone.now() - timedelta(seconds=settings.AI_TIMEOUT + 3)
    KnowledgeAnswer.objects.update(claimed_by="dead:1:abc", claimed_at=long_ago, answer_by=long_ago)
    while ask_awaited():
        pass
    while ask_awaited():
        pass
    reply = Message.objects.get(author="bot")
    assert reply.text == shop_knowledge["Payment methods"].answer
    assert not chat_calls(ai)  # past its time: not asked again
    answer = KnowledgeAnswer.objects.get()
    assert answer.kind == "faq" and "not asked within AI_TIMEOUT" in answer.reason
    assert answer.model == ""  # no call made: the budget does not count one
