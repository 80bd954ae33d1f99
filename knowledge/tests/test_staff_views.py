"""What staff see: Try a message with knowledge, "answered from" in the inbox thread with a
good/wrong verdict, and the dashboard's knowledge counts."""

import pytest

from knowledge.models import KnowledgeAnswer
from knowledge.tests.test_answering import CUSTOMER, ask
from messaging.models import Conversation

pytestmark = pytest.mark.django_db

TRY_URL = "/admin/rules/responserule/try/"


def test_try_a_message_shows_the_knowledge_answer_with_entries_and_scores(
    admin_client, shop_a, shop_knowledge, knowledge_on
):
    page = admin_client.get(TRY_URL, {"text": "can i pay with apple pay?", "account": shop_a.pk})
    text = page.content.decode()
    assert "Knowledge would answer from: Payment methods (100%)" in text
    assert "Entries found: Payment methods: confidence 100%, score" in text
    assert shop_knowledge["Payment methods"].answer in text
    assert not KnowledgeAnswer.objects.exists()  # nothing sent, nothing recorded


def test_try_a_message_says_why_knowledge_hands_off(
    admin_client, shop_a, shop_knowledge, knowledge_on
):
    page = admin_client.get(TRY_URL, {"text": "do you sell shoes?", "account": shop_a.pk})
    text = page.content.decode()
    assert "the fallback reply would answer" in text
    assert "Knowledge hands it to a person" in text


def thread_url(conversation, action=""):
    return f"/inbox/c/{conversation.pk}" + (f"/{action}" if action else "")


def test_the_inbox_thread_says_answered_from_and_staff_judge_it(
    admin_client, deliver, shop_a, shop_knowledge, knowledge_on
):
    reply = ask(deliver, "can i pay with apple pay?")
    conversation = Conversation.objects.get(customer_id=CUSTOMER)
    messages = admin_client.get(thread_url(conversation)).json()["messages"]
    shown = next(m for m in messages if m["id"] == reply.pk)
    assert shown["answered_from"]["titles"] == ["Payment methods"]
    assert shown["answered_from"]["verdict"] == ""
    answer_id = shown["answered_from"]["id"]

    judged = admin_client.post(
        thread_url(conversation, "judge"), {"answer": answer_id, "verdict": "good"}
    )
    assert judged.status_code == 200
    assert not judged.json()["conversation"]["needs_reply"]
    judged = admin_client.post(
        thread_url(conversation, "judge"), {"answer": answer_id, "verdict": "wrong"}
    )
    assert judged.json()["conversation"]["needs_reply"]
    recorded = KnowledgeAnswer.objects.get(pk=answer_id)
    assert (recorded.verdict, recorded.judged_by.username) == ("wrong", "admin")


@pytest.mark.parametrize(
    "data", [{"verdict": "meh"}, {"verdict": "good", "answer": "\u0661"}, {"answer": ""}]
)
def test_a_bad_verdict_is_refused(
    admin_client, deliver, shop_a, shop_knowledge, knowledge_on, data
):
    ask(deliver, "can i pay with apple pay?")
    conversation = Conversation.objects.get()
    data = {"answer": str(KnowledgeAnswer.objects.get().pk), **data}
    assert admin_client.post(thread_url(conversation, "judge"), data).status_code == 400
    assert KnowledgeAnswer.objects.get().verdict == ""


def test_another_conversations_answer_cannot_be_judged(
    admin_client, deliver, shop_a, shop_knowledge, knowledge_on
):
    from inbox.tests.conftest import SHOP_A_ID, dm

    ask(deliver, "can i pay with apple pay?")
    deliver(dm(SHOP_A_ID, "999", "mid.other", "hello"))
    other = Conversation.objects.get(customer_id="999")
    answer = KnowledgeAnswer.objects.get(kind="faq")
    response = admin_client.post(
        thread_url(other, "judge"), {"answer": answer.pk, "verdict": "wrong"}
    )
    assert response.status_code == 400


def test_the_dashboard_counts_knowledge_answers(
    admin_client, deliver, shop_a, shop_knowledge, knowledge_on
):
    ask(deliver, "can i pay with apple pay?", 1)
    ask(deliver, "do you sell shoes?", 2)
    KnowledgeAnswer.objects.filter(kind="faq").update(verdict="wrong")
    page = admin_client.get("/inbox/stats/")
    assert page.status_code == 200
    figures = page.context["figures"]["knowledge"]
    assert figures == {"from_knowledge": 1, "by_assistant": 0, "handed_off": 1, "marked_wrong": 1}
    assert "Answers from knowledge" in page.content.decode()


def test_the_api_lists_answers_and_judges_them(
    api, client, deliver, shop_a, shop_b, shop_knowledge, knowledge_on, knowledge_staff
):
    ask(deliver, "can i pay with apple pay?", 1)
    ask(deliver, "do you sell shoes?", 2)
    listed = api.get("/api/knowledge-answers/", {"kind": "faq"}).json()["results"]
    assert [a["entries"][0]["title"] for a in listed] == ["Payment methods"]
    answer_id = listed[0]["id"]
    assert api.get("/api/knowledge-answers/", {"kind": "nope"}).status_code == 400

    judged = api.post(f"/api/knowledge-answers/{answer_id}/judge/", {"verdict": "wrong"})
    assert judged.status_code == 200 and judged.json()["verdict"] == "wrong"
    assert Conversation.objects.get(customer_id=CUSTOMER).needs_reply
    handoff = KnowledgeAnswer.objects.get(kind="handoff")
    assert (
        api.post(f"/api/knowledge-answers/{handoff.pk}/judge/", {"verdict": "good"}).status_code
        == 400
    )
    assert (
        api.post(f"/api/knowledge-answers/{answer_id}/judge/", {"verdict": "meh"}).status_code
        == 400
    )

    # Staff of another account see none of them.
    from django.contrib.auth.models import Permission

    from inbox.tests.conftest import staff

    bravo = staff("bravo", shop_b)
    bravo.user_permissions.add(Permission.objects.get(codename="view_knowledgeanswer"))
    client.force_login(bravo)
    assert client.get(f"/api/knowledge-answers/{answer_id}/").status_code == 404
    assert client.get("/api/knowledge-answers/").json()["results"] == []
