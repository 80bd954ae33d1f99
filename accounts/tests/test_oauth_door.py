"""meta.oauth, the door for connecting accounts: Meta's answers in every shape they come in,
hostile ones included, become typed values or our error types; never a code or a secret in
an error message."""

import json

import pytest
import requests
import responses

from meta import graph, oauth

IG_TOKEN_URL = "https://api.instagram.com/oauth/access_token"
IG_GRAPH = "https://graph.instagram.com"
FB_GRAPH = "https://graph.facebook.com"


@pytest.fixture(autouse=True)
def meta_hosts(settings):
    settings.INSTAGRAM_OAUTH_TOKEN_URL = IG_TOKEN_URL
    settings.INSTAGRAM_GRAPH_API_BASE_URL = IG_GRAPH
    settings.GRAPH_API_BASE_URL = FB_GRAPH
    settings.INSTAGRAM_APP_ID, settings.INSTAGRAM_APP_SECRET = "2000000000000002", "ig-secret-x"
    settings.FACEBOOK_APP_ID = "1000000000000001"


@pytest.mark.parametrize(
    "answer",
    [
        {
            "data": [
                {
                    "access_token": "IGAAshort",
                    "user_id": "26000000000000001",
                    "permissions": "instagram_business_basic,instagram_business_manage_messages",
                }
            ]
        },
        {
            "access_token": "IGAAshort",
            "user_id": 26000000000000001,
            "permissions": ["instagram_business_basic", "instagram_business_manage_messages"],
        },
    ],
    ids=["documented", "flat-numbers-list"],
)
@responses.activate
def test_the_code_exchange_reads_both_shapes(answer):
    responses.post(IG_TOKEN_URL, json=answer)
    token = oauth.exchange_instagram_code("AQcode#_", "https://bot.example.com/cb")
    assert token == oauth.ShortLivedToken(
        "IGAAshort",
        "26000000000000001",
        ("instagram_business_basic", "instagram_business_manage_messages"),
    )
    sent = responses.calls[0].request.body
    assert "code=AQcode&" in sent or sent.endswith("code=AQcode")  # Meta's "#_" stripped
    assert "redirect_uri=https%3A%2F%2Fbot.example.com%2Fcb" in sent


@responses.activate
def test_a_refused_code_is_authorization_refused_without_the_code_or_secret():
    responses.post(
        IG_TOKEN_URL,
        status=400,
        json={
            "error_type": "OAuthException",
            "code": 400,
            "error_message": "This authorization code has been used: AQsecretcode ig-secret-x",
        },
    )
    with pytest.raises(oauth.AuthorizationRefused) as refused:
        oauth.exchange_instagram_code("AQsecretcode", "https://bot.example.com/cb")
    assert "has been used" in str(refused.value)
    assert "AQsecretcode" not in str(refused.value) and "ig-secret-x" not in str(refused.value)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (502, "<html>Bad gateway</html>", graph.TransientGraphAPIError),
        (200, "not json", graph.PermanentGraphAPIError),
        (200, "[1, 2]", graph.PermanentGraphAPIError),
        (200, json.dumps({"access_token": "x", "user_id": "²³"}), graph.PermanentGraphAPIError),
        (200, json.dumps({"access_token": "x", "user_id": 10**80}), graph.PermanentGraphAPIError),
        (200, json.dumps({"access_token": "x", "user_id": True}), graph.PermanentGraphAPIError),
        (200, json.dumps({"access_token": ["x"], "user_id": "1"}), graph.PermanentGraphAPIError),
        (200, json.dumps({"data": []}), graph.PermanentGraphAPIError),
        (200, "[" * 100_000 + "]" * 100_000, graph.PermanentGraphAPIError),
    ],
    ids=[
        "5xx",
        "not-json",
        "a-list",
        "unicode-digits",
        "huge-number",
        "bool",
        "token-list",
        "empty-data",
        "deep-nesting",
    ],
)
@responses.activate
def test_unreadable_token_answers_are_our_errors(status, body, error):
    responses.post(IG_TOKEN_URL, status=status, body=body)
    with pytest.raises(error):
        oauth.exchange_instagram_code("AQ", "https://bot.example.com/cb")


@responses.activate
def test_an_unreachable_token_endpoint_is_transient():
    responses.post(IG_TOKEN_URL, body=requests.ConnectionError("down"))
    with pytest.raises(graph.TransientGraphAPIError):
        oauth.exchange_instagram_code("AQ", "https://bot.example.com/cb")


@responses.activate
def test_me_is_cleaned_and_typed():
    responses.get(
        f"{IG_GRAPH}/v21.0/me",
        json={
            "id": 26000000000000001,
            "user_id": "17841400000000001",
            "username": "shop\x00\ud800name",
            "name": "A" * 5000,
            "account_type": "business",
        },
    )
    me = oauth.instagram_me("IGAAlong")
    assert me.instagram_id == "17841400000000001" and me.app_scoped_id == "26000000000000001"
    assert me.username == "shop\ufffdname" and len(me.name) == 200
    assert me.can_message
    assert responses.calls[0].request.headers["Authorization"] == "Bearer IGAAlong"


@responses.activate
def test_an_expired_token_is_invalid_token():
    responses.get(
        f"{IG_GRAPH}/v21.0/me",
        status=400,
        json={"error": {"message": "Session has expired", "type": "OAuthException", "code": 190}},
    )
    with pytest.raises(graph.InvalidTokenError):
        oauth.instagram_me("IGAAlong")


@responses.activate
def test_pages_without_instagram_or_unreadable_are_kept_apart():
    responses.get(
        f"{FB_GRAPH}/v21.0/me/accounts",
        json={
            "data": [
                {
                    "id": "101",
                    "name": "Shop",
                    "access_token": "EAAp1",
                    "instagram_business_account": {"id": 17841400000000101, "username": "shop"},
                },
                {"id": "102", "name": "No IG", "access_token": "EAAp2"},
                {"id": "not-digits", "name": "Bad"},
                {"id": "103", "instagram_business_account": {"id": {"deep": 1}}},
                "a string",
            ]
        },
    )
    pages = oauth.facebook_pages("EAAuser")
    assert [(p.id, p.instagram_id) for p in pages] == [("101", "17841400000000101"), ("102", "")]


@responses.activate
def test_subscribed_fields_read_list_or_comma_string_of_our_app_only():
    responses.get(
        f"{IG_GRAPH}/v21.0/me/subscribed_apps",
        json={
            "data": [
                {"id": "2000000000000002", "subscribed_fields": ["messages", "comments"]},
                {"id": "999", "subscribed_fields": ["mentions"]},
                {"subscribed_fields": "messaging_seen,messages"},
            ]
        },
    )
    fields = oauth.subscribed_fields("IGAAlong", IG_GRAPH)
    assert fields == ["comments", "messages", "messaging_seen"]


@responses.activate
def test_subscribe_needs_meta_to_say_success():
    responses.post(f"{IG_GRAPH}/v21.0/me/subscribed_apps", json={"success": False})
    with pytest.raises(graph.PermanentGraphAPIError):
        oauth.subscribe("IGAAlong", IG_GRAPH, ["messages"])
    assert "subscribed_fields=messages" in responses.calls[0].request.url


@responses.activate
def test_the_long_lived_exchange_keeps_the_secret_out_of_errors(settings):
    responses.get(
        f"{IG_GRAPH}/access_token",
        status=400,
        json={"error": {"message": "Error validating client secret ig-secret-x", "code": 1}},
    )
    with pytest.raises(oauth.AuthorizationRefused) as refused:
        oauth.instagram_long_lived(oauth.ShortLivedToken("IGAAshort", "1"))
    assert "ig-secret-x" not in str(refused.value) and "IGAAshort" not in str(refused.value)


def test_authorize_urls_carry_the_app_the_scopes_and_the_state(settings):
    url = oauth.instagram_authorize_url(
        redirect_uri="https://bot.example.com/cb", scopes=["a", "b"], state="s1"
    )
    assert url.startswith("https://www.instagram.com/oauth/authorize?client_id=2000000000000002")
    assert "scope=a%2Cb" in url and "state=s1" in url and "response_type=code" in url
    url = oauth.facebook_authorize_url(redirect_uri="https://x/cb", scopes=["p"], state="s2")
    assert url.startswith("https://www.facebook.com/v21.0/dialog/oauth?client_id=1000000000000001")
