"""Mention rules, edited by staff in the admin and the API; mentions shown with what was
replied."""

import pytest

from comments.models import CommentRule, Mention
from comments.tests.test_comments_admin import RULES, TRY, rule_form
from comments.tests.test_mentions import mention_payload, mention_rule, mentioned

pytestmark = pytest.mark.django_db

MENTIONS = "/admin/comments/mention/"


def test_staff_add_a_mention_rule_without_keywords(admin_client):
    response = admin_client.post(
        f"{RULES}add/",
        rule_form(scope="mention", keywords="", private_reply_text="", public_replies="Thanks!"),
    )
    assert response.status_code == 302
    rule = CommentRule.objects.get()
    assert (rule.scope, rule.keyword_list()) == ("mention", [])
    listing = admin_client.get(RULES).content.decode()
    assert '<td class="field-scope">Where the account is @mentioned</td>' in listing


def test_a_mention_rule_with_a_private_reply_is_refused_in_the_admin(admin_client):
    response = admin_client.post(f"{RULES}add/", rule_form(scope="mention", public_replies=""))
    assert response.status_code == 200
    page = response.content.decode()
    assert "A mention cannot be answered privately: leave this empty." in page
    assert "A mention is answered in public: give public replies." in page
    assert not CommentRule.objects.exists()


def test_try_a_mention_shows_the_mention_rule_that_would_answer(admin_client):
    mention_rule(public_replies="Thanks!\nMerci !")
    page = admin_client.get(TRY, {"text": "love it @shop", "mention": "on"}).content.decode()
    assert "would answer" in page and "(any mention)" in page and "Merci !" in page
    # Not as a comment: mention rules answer mentions only.
    page = admin_client.get(TRY, {"text": "love it @shop"}).content.decode()
    assert "No comment rule matches" in page


def test_the_mention_admin_shows_what_was_replied(admin_client, deliver, fake_meta, run_worker):
    mention_rule(public_replies="Thanks for the mention!")
    mentioned(fake_meta, text="Wearing @fake.business", username="jacket.fan")
    deliver(mention_payload())
    deliver(mention_payload(comment_id="17894227972186199"))  # Meta does not know it
    run_worker()
    listing = admin_client.get(MENTIONS).content.decode()
    assert "Answered publicly" in listing and "jacket.fan" in listing
    assert '<td class="field-answered">Failed</td>' in listing
    answered = Mention.objects.get(comment_id="17894227972186120")
    page = admin_client.get(f"{MENTIONS}{answered.pk}/change/").content.decode()
    assert "Thanks for the mention!" in page and "Wearing @fake.business" in page
    failed = Mention.objects.get(comment_id="17894227972186199")
    page = admin_client.get(f"{MENTIONS}{failed.pk}/change/").content.decode()
    assert "Failed: Graph API error 100" in page


def test_a_mention_rule_is_created_through_the_api(api):
    response = api.post(
        "/api/comment-rules/",
        {"scope": "mention", "keywords": "price", "public_replies": "Price in bio!"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    response = api.post(
        "/api/comment-rules/",
        {"scope": "mention", "private_reply_text": "Hi!"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"private_reply_text", "public_replies"}


def test_mentions_are_listed_with_their_reply(api, deliver, fake_meta, run_worker):
    deliver(mention_payload(comment_id="17894227972186100"))  # no mention rule yet
    mention_rule(public_replies="Thanks!")
    mentioned(fake_meta, text="@fake.business 😍")
    deliver(mention_payload())
    run_worker()
    results = {m["comment_id"]: m for m in api.get("/api/mentions/").json()["results"]}
    assert results["17894227972186100"]["reply"] is None
    answered = results["17894227972186120"]
    assert answered["text"] == "@fake.business 😍"
    assert (answered["reply"]["status"], answered["reply"]["text"]) == ("sent", "Thanks!")
    assert answered["reply"]["external_id"]
