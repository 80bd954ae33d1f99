"""Comment rules refuse keyword lists no person would write, and an account whose token no
FIELD_ENCRYPTION_KEY key opens gets a clear answer, never a 500, in the API and the admin."""

import pytest
from cryptography.fernet import Fernet

from accounts.models import InstagramBusinessAccount
from comments.models import CommentRule
from comments.tests.test_comments_admin import RULES, rule_form

pytestmark = pytest.mark.django_db

MEDIA_API = "/api/comment-rules/media/"
MEDIA_ADMIN = "/admin/comments/commentrule/media/"


@pytest.fixture
def shop_on_a_lost_key(fake_meta, settings):
    """An account whose token was stored with a key the service no longer has."""
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    account = InstagramBusinessAccount(instagram_id="17841400000000001", name="Shop", page_id="9")
    account.set_access_token("EAAG-page")
    account.save()
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    return account


def test_listing_posts_with_a_token_no_key_opens_is_a_503_that_says_why(
    api, shop_on_a_lost_key, caplog
):
    response = api.get(MEDIA_API, {"account": shop_on_a_lost_key.pk})
    assert response.status_code == 503
    assert "FIELD_ENCRYPTION_KEY" in response.json()["detail"]
    assert "CREDENTIALS PROBLEM" in caplog.text


def test_the_post_picker_says_the_token_cannot_be_opened(admin_client, shop_on_a_lost_key):
    response = admin_client.get(MEDIA_ADMIN, {"account": shop_on_a_lost_key.pk, "_popup": "1"})
    assert response.status_code == 200
    assert "FIELD_ENCRYPTION_KEY" in response.content.decode()


def test_a_rule_for_the_next_post_is_saved_with_a_warning_when_the_token_cannot_be_opened(
    api, shop_on_a_lost_key
):
    response = api.post(
        "/api/comment-rules/",
        {
            "account": shop_on_a_lost_key.pk,
            "keywords": "price",
            "scope": "next",
            "private_reply_text": "89 €",
        },
        format="json",
    )
    assert response.status_code == 201
    assert "FIELD_ENCRYPTION_KEY" in response.json()["warning"]
    assert CommentRule.objects.get().armed_at is not None


@pytest.mark.parametrize(
    "keywords, problem",
    [
        (",".join(f"k{n}" for n in range(51)), "At most 50 keywords a rule (51 given)."),
        ("price, " + "x" * 101, "A keyword has at most 100 characters"),
        ("y" * 2_000_000, "5100 characters"),
        (" , ", "Give at least one keyword."),
    ],
)
def test_a_comment_rules_keywords_are_capped_as_a_reply_rules_in_both(
    api, admin_client, keywords, problem
):
    response = api.post(
        "/api/comment-rules/",
        {"keywords": keywords, "private_reply_text": "89 €"},
        format="json",
    )
    assert response.status_code == 400
    assert any(problem in message for message in response.json()["keywords"])
    response = admin_client.post(f"{RULES}add/", rule_form(keywords=keywords))
    assert response.status_code == 200 and problem in response.content.decode()
    assert not CommentRule.objects.exists()


def test_fifty_keywords_of_100_characters_are_taken(api):
    keywords = ", ".join(f"{n:02d}" + "k" * 98 for n in range(50))
    response = api.post(
        "/api/comment-rules/",
        {"keywords": keywords, "private_reply_text": "89 €"},
        format="json",
    )
    assert response.status_code == 201
