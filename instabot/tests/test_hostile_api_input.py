"""The REST API's answer to input built to hurt: a 400 that says what is wrong, never a 500."""

import pytest

pytestmark = pytest.mark.django_db


def post_raw(api, url: str, body: bytes):
    return api.generic("POST", url, body, content_type="application/json")


@pytest.mark.parametrize("levels", [1000, 100_000])
@pytest.mark.parametrize("url", ["/api/rules/", "/api/accounts/"])
def test_a_json_body_nested_too_deeply_is_400(api, url, levels):
    response = post_raw(api, url, b'{"keywords": ' + b"[" * levels + b"]" * levels + b"}")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"keywords": "a", "response_text": "b", "match_type": "\\ud800"}',
        b'{"keywords": "a\\udc00", "response_text": "b"}',
        b'{"\\ud800": 1, "keywords": "a", "response_text": "b"}',
        b'{"keywords": "a", "response_text": ["x", {"y": "\\udfff"}]}',
    ],
)
def test_a_json_string_with_a_lone_surrogate_is_400(api, body):
    response = post_raw(api, "/api/rules/", body)
    assert response.status_code == 400
    assert "lone surrogate" in response.json()["detail"]


def test_a_surrogate_pair_is_an_ordinary_character(api):
    response = post_raw(api, "/api/rules/", b'{"keywords": "\\ud83d\\ude00", "response_text": "b"}')
    assert response.status_code == 201
    assert response.json()["keywords"] == "\U0001f600"


@pytest.mark.parametrize(
    "url",
    [
        "/api/conversations/?account=",
        "/api/messages/?account=",
        "/api/messages/?conversation=",
        "/api/rules/?account=",
    ],
)
@pytest.mark.parametrize(
    "value",
    [
        "%C2%B2",  # ², a digit to str.isdigit()
        "%D9%A3",  # ٣, an Arabic-Indic digit int() would take
        "-1",
        "1.0",
        "99999999999999999999999",  # past a 64-bit id
        "%ED%A0%80",  # the bytes of a lone surrogate
    ],
)
def test_an_id_filter_that_is_not_ascii_digits_is_400(api, url, value):
    response = api.get(url + value)
    assert response.status_code == 400
    assert "Expected an id" in str(response.json())


def test_an_id_filter_of_ascii_digits_still_filters(api):
    assert api.get("/api/messages/?conversation=42").json()["results"] == []
