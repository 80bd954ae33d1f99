"""The contact in the inbox's customer pane: shown with the conversation, its tags and fields
edited there, with the checks the admin and the API make."""

import pytest
from django.contrib.auth.models import Permission

from contacts.models import Contact, ContactField, FieldValue
from inbox.tests.conftest import dm, make_account, staff

pytestmark = pytest.mark.django_db

SHOP_ID = "17841400000000001"


@pytest.fixture
def conversation(deliver):
    shop = make_account(SHOP_ID, "Alpha")
    ContactField.objects.create(account=shop, key="email", label="Email", kind="email")
    ContactField.objects.create(
        account=shop, key="size", label="Size", kind="choice", choices="S\nM\nL"
    )
    deliver(dm(SHOP_ID, "1001", "aWdfZAG1one", "hello"))
    return Contact.objects.get().conversation


def edit(client, conversation, **data):
    return client.post(f"/inbox/c/{conversation.pk}/contact", data)


def test_the_customer_pane_shows_the_contact_and_saves_its_tags_and_fields(
    admin_client, conversation
):
    card = admin_client.get(f"/inbox/c/{conversation.pk}").json()["customer"]["contact"]
    assert card["source"] == "A direct message" and card["tags"] == []
    assert [f["key"] for f in card["fields"]] == ["email", "size"]
    assert card["fields"][1]["choices"] == ["S", "M", "L"]

    answer = edit(
        admin_client,
        conversation,
        tags="vip, paris",
        **{"field:email": "ana@example.com", "field:size": "m"},
    )
    assert answer.status_code == 200, answer.json()
    card = answer.json()["customer"]["contact"]
    assert card["tags"] == ["paris", "vip"]
    assert {f["key"]: f["value"] for f in card["fields"]} == {
        "email": "ana@example.com",
        "size": "M",
    }
    assert not card["opted_out"]
    assert edit(admin_client, conversation, tags="vip", opted_out="on").json()["customer"][
        "contact"
    ]["opted_out"]


@pytest.mark.parametrize(
    "data",
    [
        {"field:email": "not an email"},
        {"field:email": "a" * 2_000_000},
        {"tags": "vip\x00"},
        {"field:size": "XL"},
        {"field:nope": "1"},
    ],
)
def test_a_bad_edit_is_a_400_that_says_why_and_changes_nothing(admin_client, conversation, data):
    answer = edit(admin_client, conversation, **data)
    assert answer.status_code == 400
    assert answer.json()["error"]
    assert not FieldValue.objects.exists()


def test_an_email_with_a_lone_surrogate_is_a_400(admin_client, conversation):
    # As a browser sends a lone surrogate: its UTF-8-like bytes, which are not UTF-8.
    body = "field%3Aemail=ana%ED%A0%80%40example.com"
    answer = admin_client.post(
        f"/inbox/c/{conversation.pk}/contact", body, "application/x-www-form-urlencoded"
    )
    assert answer.status_code == 400 and "email" in answer.json()["error"]


def test_editing_a_contact_needs_the_permission(client, conversation):
    user = staff("limited", conversation.account)
    client.force_login(user)
    assert edit(client, conversation, tags="vip").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="change_contact"))
    assert edit(client, conversation, tags="vip").status_code == 200


def test_another_accounts_contact_is_not_found(client, conversation):
    other = make_account("17841400000000002", "Bravo")
    user = staff("other", other)
    user.user_permissions.add(Permission.objects.get(codename="change_contact"))
    client.force_login(user)
    assert edit(client, conversation, tags="vip").status_code == 404


@pytest.mark.parametrize(
    "value, problem",
    [
        ("\u0663\u0663", "digits 0-9"),  # Arabic-Indic digits
        ("\uff13\uff13", "digits 0-9"),  # full-width digits
        ("3\x003", "NUL"),
        ("9" * 2_000_000, "at most 1,000 characters"),
    ],
)
def test_a_number_field_takes_only_ascii_digits_in_the_pane(
    admin_client, conversation, value, problem
):
    ContactField.objects.create(account=conversation.account, key="age", label="Age", kind="number")
    answer = edit(admin_client, conversation, **{"field:age": value})
    assert answer.status_code == 400
    assert problem in answer.json()["error"]
    assert not FieldValue.objects.exists()
    saved = edit(admin_client, conversation, **{"field:age": " 33 "})
    assert saved.status_code == 200
    assert FieldValue.objects.get().value == "33"
