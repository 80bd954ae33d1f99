"""Deliveries in the `changes[]` form: the messaging fields are handled exactly as in
`messaging[]` (the app dashboard's Test button sends them so), comments and mentions reach the
comments app, and all of it stays in the raw log."""

import pytest

from comments.models import Comment, Mention
from messaging.models import Conversation, Message, WebhookDelivery
from messaging.tests.conftest import load_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_meta(fake_graph, settings):
    settings.GRAPH_API_BASE_URL = fake_graph.base_url
    return fake_graph


def test_a_changes_messages_test_sample_is_stored_and_answered(deliver, fake_meta, run_worker):
    # Meta's sample, with a timestamp of now (as a string, in seconds, as the sample sends it).
    assert deliver(load_payload("changes_messages__test_sample")).status_code == 200
    run_worker()
    conversation = Conversation.objects.get()
    # Placeholder ids: account "0" is no stored account, so the environment's account serves
    # it, as it would any delivery for an unknown account.
    assert (conversation.instagram_account_id, conversation.customer_id) == ("0", "12334")
    incoming = Message.objects.get(direction="in")
    assert (incoming.mid, incoming.text) == ("random_mid", "random_text")
    reply = Message.objects.get(author="bot")
    assert reply.status == "sent"
    assert [call["recipient_id"] for call in fake_meta.calls] == ["12334"]


def test_the_literal_test_sample_is_stored_and_visible_but_too_old_to_answer(
    deliver, fake_meta, run_worker, caplog
):
    deliver(load_payload("changes_messages__test_sample", fresh=False))  # from 2018
    run_worker()
    assert Message.objects.get().text == "random_text"
    assert WebhookDelivery.objects.get().state == "processed"
    assert "older than Instagram's 24-hour messaging window" in caplog.text
    assert fake_meta.calls == []


def test_a_test_sample_for_an_account_without_credentials_is_kept_raw(deliver, settings):
    settings.INSTAGRAM_PAGE_ACCESS_TOKEN = ""
    deliver(load_payload("changes_messages__test_sample"))
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "processed"
    assert "no account 0 is stored" in delivery.error
    assert Message.objects.count() == 0


def test_reactions_in_changes_form_reach_the_message(deliver):
    deliver(load_payload("messages__text"))
    deliver(load_payload("changes_message_reactions__react"))
    assert Message.objects.get(direction="in").reaction == "❤"


def test_a_mention_is_recorded_once(deliver):
    payload = load_payload("mentions__comment")
    deliver(payload)
    deliver(payload)
    mention = Mention.objects.get()
    assert (mention.media_id, mention.comment_id) == ("17887498072083520", "17894227972186120")


def test_a_comment_is_stored_with_what_meta_says_of_it(deliver):
    deliver(load_payload("comments__ad"))
    comment = Comment.objects.get()
    assert (
        comment.author_username,
        comment.ad_id,
        comment.ad_title,
        comment.media_product_type,
    ) == (
        "ad.viewer",
        "23851234567890123",
        "Winter jackets",
        "AD",
    )
    assert WebhookDelivery.objects.get().state == "processed"
