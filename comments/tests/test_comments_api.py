"""Comment rules through the REST API (CRUD, the account's posts), and the comments list."""

import pytest

from accounts.models import InstagramBusinessAccount
from comments.models import CommentRule
from comments.tests.conftest import MEDIA_ID, comment_payload, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(fake_meta):
    account = InstagramBusinessAccount(instagram_id="17841400000000001", name="Shop", page_id="9")
    account.set_access_token("EAAG-page")
    account.save()
    return account


def test_comment_rules_are_created_read_updated_and_deleted(api, shop):
    response = api.post(
        "/api/comment-rules/",
        {
            "account": shop.pk,
            "keywords": "price, cost",
            "scope": "post",
            "media_id": MEDIA_ID,
            "private_reply_text": "89 €",
            "public_replies": "Sent you a DM!",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    rule_id = response.json()["id"]
    assert api.get(f"/api/comment-rules/?account={shop.pk}").json()["results"][0]["id"] == rule_id

    response = api.patch(f"/api/comment-rules/{rule_id}/", {"priority": 3}, format="json")
    assert response.status_code == 200 and response.json()["priority"] == 3
    assert api.delete(f"/api/comment-rules/{rule_id}/").status_code == 204
    assert not CommentRule.objects.exists()


def test_an_invalid_rule_is_refused_with_the_reasons(api):
    response = api.post(
        "/api/comment-rules/", {"keywords": "price", "scope": "post"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"private_reply_text", "media_id"}
    rule = make_rule()
    response = api.patch(
        f"/api/comment-rules/{rule.pk}/", {"private_reply_text": ""}, format="json"
    )
    assert response.status_code == 400


def test_a_rule_for_the_next_post_is_armed(api, shop):
    response = api.post(
        "/api/comment-rules/",
        {"account": shop.pk, "keywords": "price", "scope": "next", "private_reply_text": "89 €"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["armed_at"] and response.json()["warning"] == ""
    assert MEDIA_ID in CommentRule.objects.get().media_known_at_arming


def test_the_accounts_posts_are_listed(api, shop):
    posts = api.get(f"/api/comment-rules/media/?account={shop.pk}").json()
    assert posts[0]["id"] == MEDIA_ID and posts[0]["thumbnail_url"]
    assert api.get("/api/comment-rules/media/?account=999").status_code == 400


def test_comments_are_listed_with_their_replies_and_filtered(api, deliver):
    make_rule()
    deliver(comment_payload(comment_id="1", text="price?"))
    deliver(comment_payload(comment_id="2", text="lovely"))
    results = api.get("/api/comments/?status=pending").json()["results"]
    assert [c["comment_id"] for c in results] == ["1"]
    assert results[0]["replies"][0]["kind"] == "private"
    assert api.get("/api/comments/?status=nonsense").status_code == 400
    assert len(api.get(f"/api/comments/?media={MEDIA_ID}").json()["results"]) == 2


def test_mentions_are_listed(api, deliver):
    from messaging.tests.conftest import load_payload

    deliver(load_payload("mentions__comment"))
    assert api.get("/api/mentions/").json()["results"][0]["media_id"] == "17887498072083520"


def test_mentions_are_filtered_by_account_and_post(api, deliver, shop):
    from messaging.tests.conftest import load_payload

    deliver(load_payload("mentions__comment"))
    assert len(api.get(f"/api/mentions/?account={shop.pk}").json()["results"]) == 1
    assert api.get(f"/api/mentions/?account={shop.pk + 1}").json()["results"] == []
    assert len(api.get("/api/mentions/?media=17887498072083520").json()["results"]) == 1
    assert api.get("/api/mentions/?media=17887498072083521").json()["results"] == []
    assert api.get("/api/mentions/?account=x").status_code == 400


def test_a_graph_api_failure_listing_posts_is_a_502(api, shop):
    shop.access_token = ""
    shop.save()
    response = api.get(f"/api/comment-rules/media/?account={shop.pk}")
    assert response.status_code == 502 and "no access token" in response.json()["detail"]
