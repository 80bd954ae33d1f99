"""Instagram Login tokens are refreshed by the worker before their 60 days run out."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from accounts.services import refresh_expiring_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def refresh_url(settings):
    return f"{settings.INSTAGRAM_GRAPH_API_BASE_URL}/refresh_access_token"


def account(set_days_ago=2, expires_in_days=10, api="instagram_login", token="IGQVJ-old-token"):
    now = timezone.now()
    return InstagramBusinessAccount.objects.create(
        instagram_id=f"1784140000000{InstagramBusinessAccount.objects.count()}",
        name="Shop",
        api=api,
        access_token=token,
        access_token_set_at=now - timedelta(days=set_days_ago),
        access_token_expires_at=None
        if expires_in_days is None
        else now + timedelta(days=expires_in_days),
    )


def test_a_token_near_its_expiry_is_refreshed(refresh_url):
    shop = account()
    with responses.RequestsMock() as graph:
        graph.add(
            responses.GET,
            refresh_url,
            json={"access_token": "IGQVJ-new-token", "token_type": "bearer", "expires_in": 5183944},
        )
        assert refresh_expiring_tokens() == 1
        assert "grant_type=ig_refresh_token" in graph.calls[0].request.url
    shop.refresh_from_db()
    assert shop.access_token == "IGQVJ-new-token"
    assert shop.access_token_expires_at > timezone.now() + timedelta(days=59)
    assert shop.access_token_set_at > timezone.now() - timedelta(minutes=1)


@pytest.mark.parametrize(
    "fields",
    [
        {"set_days_ago": 0},  # Meta refreshes only tokens at least a day old
        {"expires_in_days": 45},  # plenty of time left
        {"api": "facebook_login"},  # Page tokens are not refreshed this way
        {"token": ""},
    ],
)
def test_tokens_that_need_no_refresh_are_left_alone(fields):
    account(**fields)
    with responses.RequestsMock():  # any call would fail the test
        assert refresh_expiring_tokens() == 0


def test_a_token_whose_expiry_is_unknown_is_refreshed_to_learn_it(refresh_url):
    account(expires_in_days=None)
    with responses.RequestsMock() as graph:
        graph.add(
            responses.GET, refresh_url, json={"access_token": "IGQVJ-new", "expires_in": 5183944}
        )
        assert refresh_expiring_tokens() == 1


def test_a_token_meta_refuses_to_refresh_is_marked_invalid(refresh_url, caplog):
    shop = account()
    with responses.RequestsMock() as graph:
        graph.add(
            responses.GET,
            refresh_url,
            status=400,
            json={"error": {"message": "Session has expired", "code": 190}},
        )
        assert refresh_expiring_tokens() == 0
    shop.refresh_from_db()
    assert shop.token_is_invalid
    assert "CREDENTIALS PROBLEM" in caplog.text
    assert "IGQVJ-old-token" not in caplog.text


def test_a_transient_failure_leaves_the_token_for_the_next_run(refresh_url):
    shop = account()
    with responses.RequestsMock() as graph:
        graph.add(
            responses.GET, refresh_url, status=500, json={"error": {"message": "x", "code": 2}}
        )
        assert refresh_expiring_tokens() == 0
    shop.refresh_from_db()
    assert (shop.access_token, shop.token_is_invalid) == ("IGQVJ-old-token", False)
