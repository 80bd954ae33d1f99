"""The assistant's guardrails end to end: simulate_dm -> webhook (live server) -> the worker
(`manage.py worker`) -> the fake AI service and the fake Graph API."""

import pytest
import requests

from devtools.fake_ai import FakeAIService
from knowledge.models import KnowledgeAnswer, KnowledgeSettings
from knowledge.tests.conftest import load_shop_knowledge
from messaging.models import Conversation
from messaging.tests.test_end_to_end import simulate_dm

pytestmark = pytest.mark.django_db(transaction=True)

FALLBACK = "Thanks for your message! We'll get back to you soon."


@pytest.fixture
def fake_ai(settings):
    fake = FakeAIService().start()
    settings.AI_BASE_URL = fake.base_url
    settings.AI_API_KEY = "dev-key"
    settings.AI_TIMEOUT = 1.0
    yield fake
    fake.stop()


@pytest.fixture
def shop():
    """The environment's single account (simulate_dm's), its knowledge, the assistant on."""
    entries = load_shop_knowledge()
    KnowledgeSettings.objects.create(account=None, mode=KnowledgeSettings.Mode.ASSISTANT)
    return entries


def fail_next(fake_ai, kind: str, **options) -> None:
    response = requests.post(
        fake_ai.base_url.replace("/v1", "/_fake/fail"), json={"kind": kind, **options}, timeout=5
    )
    assert response.status_code == 200


def sent_texts(fake_graph) -> list[str]:
    return [call["text"] for call in fake_graph.calls]


def test_the_assistants_answer_goes_out_as_a_bot_reply(
    live_server,
    fake_graph,
    fake_ai,
    run_worker,
    shop,
):
    simulate_dm(live_server, "do you accept paypal?")
    run_worker()
    assert sent_texts(fake_graph) == [shop["Payment methods"].answer]
    recorded = KnowledgeAnswer.objects.get()
    assert recorded.kind == "assistant" and recorded.prompt_tokens > 0
    given = fake_ai.calls[0]["messages"][0]["content"]
    assert "Payment methods" in given
    assert not Conversation.objects.get().needs_reply


def test_slow_past_ai_timeout_the_built_in_answer_goes(
    live_server,
    fake_graph,
    fake_ai,
    run_worker,
    shop,
):
    fail_next(fake_ai, "slow", seconds=3)
    simulate_dm(live_server, "can i pay with apple pay?")
    run_worker()
    assert sent_texts(fake_graph) == [shop["Payment methods"].answer]
    recorded = KnowledgeAnswer.objects.get()
    assert recorded.kind == "faq" and "AI_TIMEOUT" in recorded.reason
    assert recorded.elapsed_ms < 2500


@pytest.mark.parametrize("kind", ["error", "rate_limit", "garbage"])
def test_a_failing_service_costs_no_dm(
    live_server,
    fake_graph,
    fake_ai,
    run_worker,
    shop,
    kind,
):
    fail_next(fake_ai, kind)
    simulate_dm(live_server, "can i pay with apple pay?", sender="1111111111111111")
    simulate_dm(live_server, "do you sell shoes?", sender="2222222222222222")
    fail_next(fake_ai, kind)
    run_worker()
    assert sorted(sent_texts(fake_graph)) == sorted([shop["Payment methods"].answer, FALLBACK])
    waiting = Conversation.objects.get(needs_reply=True)
    assert waiting.customer_id == "2222222222222222"


def test_an_answer_beyond_the_entries_goes_to_a_person(
    live_server,
    fake_graph,
    fake_ai,
    run_worker,
    shop,
):
    fail_next(fake_ai, "beyond")
    simulate_dm(live_server, "do you accept paypal?")
    run_worker()
    assert sent_texts(fake_graph) == [FALLBACK]
    assert Conversation.objects.get().needs_reply
    assert "1.99 €" in KnowledgeAnswer.objects.get().reason
