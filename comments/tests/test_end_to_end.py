"""A comment's whole path, without Instagram: simulate_comment -> webhook (live server) ->
worker -> fake Graph API (private reply, then its echo back to the webhook) -> the commenter
answers with a DM -> the bot answers by the reply rules."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from comments.models import Comment
from comments.tests.conftest import make_rule, private_calls
from devtools.fake_graph import FakeGraphAPI
from messaging.models import Conversation, Message, WebhookDelivery
from messaging.tests.test_end_to_end import wait_for
from rules.models import ResponseRule

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ACCOUNT_ID = "17841400000000001"


@pytest.fixture
def fake_with_echoes(live_server, settings):
    fake = FakeGraphAPI(
        echo_webhook_url=f"{live_server.url}/webhooks/instagram",
        app_secret=settings.FACEBOOK_APP_SECRET,
        account_id=ACCOUNT_ID,
    ).start()
    settings.GRAPH_API_BASE_URL = fake.base_url
    yield fake
    fake.stop()


def test_a_simulated_comment_is_answered_privately_and_the_answer_continues_as_a_dm(
    live_server, fake_with_echoes, run_worker
):
    make_rule(public_replies="Sent you a DM!")
    ResponseRule.objects.create(keywords="link", response_text="https://shop.example/jacket")
    url = f"{live_server.url}/webhooks/instagram"
    # simulate_comment tells the fake Graph API who wrote the comment: the DM goes to them.
    call_command(
        "simulate_comment",
        author="1234567890123456",
        username="jacket.fan",
        text="Price? 😍",
        comment_id="17865799348089001",
        url=url,
    )
    run_worker()
    comment = Comment.objects.get()
    assert comment.status == Comment.Status.ANSWERED_BOTH
    [call] = private_calls(fake_with_echoes)
    assert call["comment_id"] == "17865799348089001"

    # The private reply's echo comes back: matched to the bot's message, no takeover.
    assert wait_for(lambda: WebhookDelivery.objects.count() == 2)
    run_worker()
    conversation = Conversation.objects.get()
    assert conversation.customer_id == "1234567890123456"
    assert not conversation.bot_is_paused()
    assert conversation.messages.count() == 1

    call_command("simulate_dm", sender="1234567890123456", text="the link please", url=url)
    run_worker()
    assert list(conversation.messages.values_list("author", flat=True)) == [
        "bot",
        "customer",
        "bot",
    ]
    assert Message.objects.filter(text="https://shop.example/jacket", status="sent").exists()
    assert conversation.comments.get() == comment


def test_simulate_comment_reports_a_delivery_the_server_did_not_accept(live_server):
    with pytest.raises(CommandError, match="answered 404"):
        call_command("simulate_comment", author="1", text="hi", url=f"{live_server.url}/nope")


def test_simulate_comment_without_an_author_comments_as_a_new_commenter(live_server):
    out = io.StringIO()
    url = f"{live_server.url}/webhooks/instagram"
    call_command("simulate_comment", text="price?", url=url, stdout=out)
    value = json.loads(bytes(WebhookDelivery.objects.get().body))["entry"][0]["changes"][0]
    author = value["value"]["from"]["id"]
    assert author.isdigit() and author != ACCOUNT_ID
    assert f"author {author}" in out.getvalue()
