"""Texts staff write for the bot to send are capped at what a person would send, with a field
error in the admin and the API alike: a 2 MB reply would go out as some 2,000 messages."""

import pytest

from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

ADD = "/admin/rules/responserule/add/"


def rule(**changes):
    data = {"keywords": "price", "match_type": "contains", "response_text": "From 10 €"}
    data.update(changes)
    return data


# The rule form's inline of extra messages, empty.
NO_EXTRA_MESSAGES = {"extra_messages-TOTAL_FORMS": "0", "extra_messages-INITIAL_FORMS": "0"}


def admin_rule(**changes):
    return {
        "trigger": "keywords",
        "priority": "0",
        "is_active": "on",
        "account": "",
        **NO_EXTRA_MESSAGES,
        **rule(**changes),
    }


CAPPED = [
    ({"response_text": "x" * 2001}, "response_text", "2000"),
    ({"keywords": ", ".join(f"k{n}" for n in range(51))}, "keywords", "At most 50 keywords"),
    ({"keywords": "price, " + "k" * 101}, "keywords", "at most 100 characters"),
    ({"keywords": "price" + " " * 6000 + ", sale"}, "keywords", "5100"),
]


@pytest.mark.parametrize("changes, field, says", CAPPED)
def test_the_api_refuses_texts_over_the_caps(api, changes, field, says):
    response = api.post("/api/rules/", rule(**changes), format="json")
    assert response.status_code == 400
    assert says in str(response.json()[field])
    assert not ResponseRule.objects.exists()


@pytest.mark.parametrize("changes, field, says", CAPPED)
def test_the_admin_refuses_texts_over_the_caps(admin_client, changes, field, says):
    response = admin_client.post(ADD, admin_rule(**changes))
    assert response.status_code == 200
    assert says in str(response.context["adminform"].form.errors[field])
    assert not ResponseRule.objects.exists()


def test_texts_at_the_caps_are_taken(api, admin_client):
    at_caps = rule(
        response_text="x" * 2000, keywords=", ".join(f"{n:03}" + "k" * 97 for n in range(50))
    )
    assert api.post("/api/rules/", at_caps, format="json").status_code == 201
    assert admin_client.post(ADD, admin_rule(**at_caps)).status_code == 302


def test_an_update_over_the_cap_is_refused_and_changes_nothing(api):
    rule_id = api.post("/api/rules/", rule(), format="json").json()["id"]
    url = f"/api/rules/{rule_id}/"
    response = api.patch(url, {"response_text": "y" * 2001}, format="json")
    assert response.status_code == 400
    assert ResponseRule.objects.get().response_text == "From 10 €"


@pytest.mark.parametrize(
    "changes, field, says",
    [
        ({"response_text": "x" * 2_000_000}, "response_text", "2000"),
        ({"keywords": "price" + " " * 6000 + ", sale"}, "keywords", "5100"),
    ],
)
def test_a_text_over_its_cap_shows_only_the_length_error(api, admin_client, changes, field, says):
    errors = admin_client.post(ADD, admin_rule(**changes)).context["adminform"].form.errors
    assert len(errors[field]) == 1
    assert says in errors[field][0]
    assert list(errors) == [field]

    api_errors = api.post("/api/rules/", rule(**changes), format="json").json()
    assert len(api_errors[field]) == 1


@pytest.mark.parametrize(
    "changes, field",
    [({"response_text": "   "}, "response_text"), ({"keywords": " , ,"}, "keywords")],
)
def test_an_empty_reply_or_keyword_list_is_still_refused_in_both(api, admin_client, changes, field):
    assert field in admin_client.post(ADD, admin_rule(**changes)).context["adminform"].form.errors
    assert field in api.post("/api/rules/", rule(**changes), format="json").json()
    assert not ResponseRule.objects.exists()
