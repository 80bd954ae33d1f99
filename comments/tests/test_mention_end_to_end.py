"""A mention's whole path, without Instagram: simulate_comment --mention -> webhook (live
server) -> worker -> fake Graph API (the mention read, then answered in public)."""

import io

import pytest
from django.core.management import call_command

from comments.models import Mention, MentionReply
from comments.tests.test_end_to_end import fake_with_echoes  # noqa: F401  (a fixture)
from comments.tests.test_mentions import calls, mention_rule
from devtools.fake_comments import POSTS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_simulated_mention_is_read_and_answered_in_public_once(
    live_server,
    fake_with_echoes,  # noqa: F811
    run_worker,
):
    mention_rule(keywords="price", public_replies="Price in bio! 💛")
    url = f"{live_server.url}/webhooks/instagram"
    out = io.StringIO()
    # simulate_comment tells the fake Graph API what the mentioning comment says.
    for _ in range(2):  # delivered twice, as Meta may
        call_command(
            "simulate_comment",
            mention=True,
            text="@fake.business price?",
            username="jacket.fan",
            comment_id="17894227972186120",
            url=url,
            stdout=out,
        )
    run_worker()
    [call] = calls(fake_with_echoes, "mention_reply")
    assert (call["media_id"], call["comment_id"], call["text"]) == (
        POSTS[0][0],
        "17894227972186120",
        "Price in bio! 💛",
    )
    mention = Mention.objects.get()
    assert (mention.text, mention.author_username) == ("@fake.business price?", "jacket.fan")
    assert mention.reply.status == MentionReply.Status.SENT


def test_a_simulated_caption_mention_is_answered_on_the_post(
    live_server,
    fake_with_echoes,  # noqa: F811
    run_worker,
):
    mention_rule(public_replies="Thank you!")
    call_command(
        "simulate_comment",
        mention=True,
        caption=True,
        text="Wearing @fake.business today",
        url=f"{live_server.url}/webhooks/instagram",
        stdout=io.StringIO(),
    )
    run_worker()
    [call] = calls(fake_with_echoes, "mention_reply")
    assert (call["media_id"], call["comment_id"]) == (POSTS[0][0], "")
    assert Mention.objects.get().comment_id == ""
