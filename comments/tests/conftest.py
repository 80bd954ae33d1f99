import copy
from datetime import timedelta

import pytest
from django.utils import timezone

from comments.models import CommentReply, CommentRule
from messaging.models import SendThrottle
from messaging.tests.conftest import (  # noqa: F401  (fixtures, shared with messaging's tests)
    deliver,
    fake_graph,
    graph_api,
    load_payload,
    run_worker,
)
from messaging.tests.test_inbox_browser import browser_page  # noqa: F401  (a fixture)

COMMENT_ID = "17865799348089039"
MEDIA_ID = "17895695668004550"


@pytest.fixture
def fake_meta(fake_graph, settings):  # noqa: F811  (the fixture imported above)
    """The fake Graph API, where the worker's calls go (both login types' hosts)."""
    settings.GRAPH_API_BASE_URL = fake_graph.base_url
    settings.INSTAGRAM_GRAPH_API_BASE_URL = fake_graph.base_url
    return fake_graph


def comment_payload(
    *,
    comment_id=COMMENT_ID,
    text="Price please?",
    author="1234567890123456",
    media=MEDIA_ID,
    account="17841400000000001",
    age=timedelta(0),
    fixture="comments__comment",
) -> dict:
    payload = copy.deepcopy(load_payload(fixture, fresh=False))
    entry = payload["entry"][0]
    entry["id"] = account
    entry["time"] = int((timezone.now() - age).timestamp())
    value = entry["changes"][0]["value"]
    value.update({"id": comment_id, "text": text})
    value["from"]["id"] = author
    value["media"]["id"] = media
    return payload


def make_rule(**fields) -> CommentRule:
    values = {
        "keywords": "price",
        "private_reply_text": "Hi! The jacket is 89 €. Want the link?",
        "scope": CommentRule.Scope.ANY_POST,
    }
    values.update(fields)
    rule = CommentRule(**values)
    rule.full_clean()
    rule.save()
    return rule


def private_calls(fake) -> list[dict]:
    return [call for call in fake.calls if call.get("kind") == "private_reply"]


def public_calls(fake) -> list[dict]:
    return [call for call in fake.calls if call.get("kind") == "public_reply"]


def an_hour_passes() -> None:
    """Every claim is over an hour old, and every waiting reply due."""
    past = timezone.now() - timedelta(hours=1, seconds=1)
    for reply in CommentReply.objects.exclude(claimed_at=None):
        CommentReply.objects.filter(pk=reply.pk).update(
            claimed_at=reply.claimed_at - timedelta(hours=1, seconds=1)
        )
    CommentReply.objects.filter(status="queued").update(due_at=past)
    SendThrottle.objects.update(next_slot_at=None, paused_until=None)


@pytest.fixture
def answering_rules():
    """A comment rule with a private and a public reply, and a rule answering @mentions."""
    make_rule(public_replies="Sent you a DM!")
    make_rule(
        scope=CommentRule.Scope.MENTION,
        keywords="",
        private_reply_text="",
        public_replies="Thanks for the mention! 💛",
    )
