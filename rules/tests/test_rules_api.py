"""/api/rules/: reply rules per account, validated like the admin validates them."""

import pytest

from accounts.models import InstagramBusinessAccount
from rules.matching import choose_reply
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return InstagramBusinessAccount.objects.create(instagram_id="1", name="Shop")


def test_crud_and_the_bot_uses_the_rule_at_once(api, shop):
    created = api.post(
        "/api/rules/",
        {
            "keywords": "horaires, hours",
            "response_text": "10-19 🕙",
            "match_type": "word",
            "priority": 3,
            "account": shop.pk,
        },
        format="json",
    )
    assert created.status_code == 201
    rule_id = created.json()["id"]
    assert choose_reply(shop, "Your hours?").text == "10-19 🕙"

    assert (
        api.patch(f"/api/rules/{rule_id}/", {"response_text": "9-18"}, format="json").status_code
        == 200
    )
    assert choose_reply(shop, "Your hours?").text == "9-18"
    assert api.get(f"/api/rules/{rule_id}/").json()["priority"] == 3
    assert api.delete(f"/api/rules/{rule_id}/").status_code == 204
    assert choose_reply(shop, "Your hours?").is_fallback


def test_rules_are_filtered_by_account(api, shop):
    ResponseRule.objects.create(keywords="a", response_text="shop's", account=shop)
    ResponseRule.objects.create(keywords="b", response_text="everyone's")
    assert [
        r["response_text"] for r in api.get("/api/rules/", {"account": shop.pk}).json()["results"]
    ] == ["shop's"]
    assert [
        r["response_text"] for r in api.get("/api/rules/", {"account": "none"}).json()["results"]
    ] == ["everyone's"]
    assert api.get("/api/rules/", {"account": "shop"}).status_code == 400


@pytest.mark.parametrize(
    "data, field",
    [
        ({"keywords": " , ", "response_text": "x"}, "keywords"),
        ({"keywords": "a", "response_text": "   "}, "response_text"),
        ({"keywords": "a", "response_text": "x", "match_type": "regex"}, "match_type"),
        ({"keywords": "a", "response_text": "x", "priority": "high"}, "priority"),
        ({"keywords": "a", "response_text": "x", "account": 999}, "account"),
        ({"response_text": "x"}, "keywords"),
    ],
)
def test_invalid_rules_are_a_400_with_field_errors(api, data, field):
    response = api.post("/api/rules/", data, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not ResponseRule.objects.exists()


def test_a_partial_update_is_validated_against_the_stored_rule(api):
    rule = ResponseRule.objects.create(keywords="a", response_text="x")
    response = api.patch(f"/api/rules/{rule.pk}/", {"keywords": " , "}, format="json")
    assert response.status_code == 400
    assert "keywords" in response.json()
