"""A slow AI service with real processes: `manage.py worker` on this test database (on SQLite,
its one write lock), our fake AI service (slow on request) and fake Graph API. The assistant is
asked outside any transaction, so the webhook stores deliveries and staff act while it is being
asked; past AI_TIMEOUT the built-in answer or the fallback goes out; a worker killed while
asking costs no DM and sends no answer twice."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from devtools.fake_ai import FakeAIService
from knowledge.models import KnowledgeAnswer
from knowledge.tests.test_end_to_end import shop  # noqa: F401  (fixture)
from messaging import replies
from messaging.models import Conversation, Message
from messaging.tests.conftest import database_url, kill_with_its_children, load_payload, with_mid
from messaging.tests.test_end_to_end import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parents[2]
FALLBACK = "Thanks for your message! We'll get back to you soon."
AI_TIMEOUT = 4.0
BUILT_IN, NO_ENTRY, TAKEN_OVER = "1000000000000001", "1000000000000002", "1000000000000003"


@pytest.fixture
def fake_ai():
    fake = FakeAIService().start()
    yield fake
    fake.stop()


@pytest.fixture
def workers(fake_graph, fake_ai):
    started = []

    def start() -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "GRAPH_API_BASE_URL": fake_graph.base_url,
            "AI_BASE_URL": fake_ai.base_url,
            "AI_API_KEY": "dev-key",
            "AI_TIMEOUT": str(AI_TIMEOUT),
            "ENV_FILE": os.devnull,
        }
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "worker"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        kill_with_its_children(worker)
        worker.wait(timeout=10)


def dm(customer_id: str, text: str) -> dict:
    payload = with_mid(load_payload("messages__text"), f"aWdfZAG1from-{customer_id}", text)
    payload["entry"][0]["messaging"][0]["sender"]["id"] = customer_id
    return payload


def being_asked() -> int:
    return KnowledgeAnswer.objects.filter(kind="awaiting").exclude(claimed_by="").count()


def sent_to(fake_graph, customer_id: str) -> list[str]:
    return [call["text"] for call in fake_graph.calls if call.get("recipient_id") == customer_id]


def test_a_slow_ai_holds_no_database_and_past_ai_timeout_the_built_in_or_fallback_goes(
    fake_graph,
    fake_ai,
    deliver,
    workers,
    shop,  # noqa: F811
):
    fake_ai.fail_next("slow", times=3, seconds=8)
    # Two DMs in one delivery: the assistant is asked for both at once.
    batch = dm(BUILT_IN, "can i pay with apple pay?")
    batch["entry"] += [
        dm(NO_ENTRY, "do you sell shoes?")["entry"][0],
        dm(TAKEN_OVER, "do you accept paypal?")["entry"][0],
    ]
    deliver(batch, handle=False)
    workers()
    assert wait_for(lambda: being_asked() == 3, 15), "the worker never asked the assistant"
    asked_at = time.monotonic()

    # While the assistant is being asked: the webhook stores a delivery (one insert) and staff
    # take a conversation over, neither waiting on the AI call (on SQLite: no write lock held).
    started = time.monotonic()
    response = deliver(dm("1000000000000004", "hello"), handle=False)
    stored_in = time.monotonic() - started
    started = time.monotonic()
    replies.pause_bot(Conversation.objects.get(customer_id=TAKEN_OVER))
    paused_in = time.monotonic() - started
    assert response.status_code == 200
    # (Waiting on the AI call, each would take the AI_TIMEOUT that is left: seconds.)
    assert stored_in < 2.0 and paused_in < 2.0, (stored_in, paused_in)
    assert being_asked() == 3  # still asking
    # The worker takes that delivery while the assistant is being asked: its fallback goes
    # before the answers the assistant was asked for.
    assert wait_for(lambda: sent_to(fake_graph, "1000000000000004"), 10)

    assert wait_for(lambda: sent_to(fake_graph, BUILT_IN) and sent_to(fake_graph, NO_ENTRY), 10)
    # All within AI_TIMEOUT of the asking (and the sends), not one call after the other.
    assert time.monotonic() - asked_at < AI_TIMEOUT + 4
    assert sent_to(fake_graph, BUILT_IN) == [shop["Payment methods"].answer]
    assert sent_to(fake_graph, NO_ENTRY) == [FALLBACK]
    order = [call.get("recipient_id") for call in fake_graph.calls]
    assert order.index("1000000000000004") < order.index(BUILT_IN)
    assert Conversation.objects.get(customer_id=NO_ENTRY).needs_reply
    assert not Conversation.objects.get(customer_id=BUILT_IN).needs_reply
    built_in = KnowledgeAnswer.objects.get(question__mid=f"aWdfZAG1from-{BUILT_IN}")
    assert built_in.kind == "faq" and "AI_TIMEOUT" in built_in.reason
    # Taken over while the assistant was asked: the bot sends nothing there.
    time.sleep(0.5)
    assert sent_to(fake_graph, TAKEN_OVER) == []
    taken_over = KnowledgeAnswer.objects.get(question__mid=f"aWdfZAG1from-{TAKEN_OVER}")
    assert taken_over.kind == "handoff" and "bot is silent" in taken_over.reason
    assert not Message.objects.filter(author="bot", conversation__customer_id=TAKEN_OVER).exists()


def test_a_worker_killed_while_asking_the_assistant_costs_no_dm(
    fake_graph,
    fake_ai,
    deliver,
    workers,
    shop,  # noqa: F811
):
    fake_ai.fail_next("slow", times=1, seconds=12)
    deliver(dm(BUILT_IN, "can i pay with apple pay?"), handle=False)
    first = workers()
    assert wait_for(lambda: being_asked() == 1, 15), "the worker never asked the assistant"
    kill_with_its_children(first)
    killed_at = timezone.now()
    workers()
    assert wait_for(lambda: sent_to(fake_graph, BUILT_IN), 30), "the DM was never answered"
    time.sleep(1.0)
    assert sent_to(fake_graph, BUILT_IN) == [shop["Payment methods"].answer]  # once
    answer = KnowledgeAnswer.objects.get()
    assert answer.kind == "faq" and "not asked within AI_TIMEOUT" in answer.reason
    assert answer.reply.status == "sent" and answer.reply.created_at > killed_at
    assert len(fake_ai.calls) <= 1  # the assistant was not asked again
