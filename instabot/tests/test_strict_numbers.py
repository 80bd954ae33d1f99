"""One strict reading of ids and whole numbers (instabot.numbers) for the inbox, the API and
the admin: ASCII digits, bounded; never another value read into what was sent."""

import pytest
from django.contrib import admin
from django.test import RequestFactory

from inbox.models import Note
from inbox.tests.conftest import SHOP_A_ID, dm
from instabot.numbers import read_id, read_whole_number
from messaging.models import Conversation, Message
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

ARABIC_INDIC_ONE = "\u0661"
TWENTY_DIGITS = "9" * 20


@pytest.mark.parametrize(
    "value", [1.9, 1.0, 1e999, True, "1_0", ARABIC_INDIC_ONE, "²", "1e3", "9" * 19, 10**19, ""]
)
def test_what_is_not_a_whole_number_in_ascii_digits_is_refused(value):
    with pytest.raises(ValueError):
        read_whole_number(value)


@pytest.mark.parametrize(("value", "read"), [(7, 7), ("7", 7), (" -3 ", -3), ("+12", 12)])
def test_whole_numbers_are_read(value, read):
    assert read_whole_number(value) == read


@pytest.mark.parametrize("value", [0, -1, 1.9, "01.0", ARABIC_INDIC_ONE, TWENTY_DIGITS, None])
def test_what_is_not_an_id_is_none(value):
    assert read_id(value) is None


# --- the API ---


def rule_body(**fields):
    return {"keywords": "hours", "response_text": "We open at 9.", **fields}


@pytest.mark.parametrize("priority", ["1_0", 1.9, 1.0, ARABIC_INDIC_ONE, "9" * 30, "1e3"])
def test_the_api_refuses_a_priority_not_in_ascii_digits(api, priority):
    response = api.post("/api/rules/", rule_body(priority=priority), format="json")
    assert response.status_code == 400
    assert not ResponseRule.objects.exists()


def test_a_number_too_large_for_a_float_is_a_parse_error(api):
    body = b'{"keywords": "hours", "response_text": 1e999}'
    response = api.generic("POST", "/api/rules/", body, content_type="application/json")
    assert response.status_code == 400
    assert "too large" in response.json()["detail"]


@pytest.mark.parametrize("account", [1.9, "1.0", ARABIC_INDIC_ONE, True, TWENTY_DIGITS, [1]])
def test_the_api_refuses_an_account_id_not_in_ascii_digits(api, shop_a, account):
    response = api.post("/api/rules/", rule_body(account=account), format="json")
    assert response.status_code == 400
    assert "account" in response.json()
    assert not ResponseRule.objects.exists()


def test_the_api_still_takes_an_account_by_its_id(api, shop_a):
    response = api.post("/api/rules/", rule_body(account=shop_a.pk, priority="3"), format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["account"], response.json()["priority"]) == (shop_a.pk, 3)


def test_a_reply_of_infinity_is_refused_not_sent_as_inf(api, deliver, shop_a):
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    conversation = Conversation.objects.get()
    body = b'{"text": 1e999}'
    response = api.generic(
        "POST",
        f"/api/conversations/{conversation.pk}/reply/",
        body,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert not Message.objects.filter(author=Message.Author.STAFF).exists()


# --- the inbox ---


def inbox_url(conversation, action=""):
    return f"/inbox/c/{conversation.pk}" + (f"/{action}" if action else "")


@pytest.fixture
def conversation(deliver, shop_a):
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    return Conversation.objects.get()


def test_a_20_digit_conversation_id_in_the_inbox_is_404(admin_client, conversation):
    assert admin_client.get(f"/inbox/c/{TWENTY_DIGITS}").status_code == 404
    assert admin_client.post(f"/inbox/c/{TWENTY_DIGITS}/read", {"message": 1}).status_code == 404


@pytest.mark.parametrize("message", [TWENTY_DIGITS, ARABIC_INDIC_ONE, "1_0", "1.0"])
def test_reading_up_to_a_message_id_not_in_ascii_digits_is_400(admin_client, conversation, message):
    response = admin_client.post(inbox_url(conversation, "read"), {"message": message})
    assert response.status_code == 400


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


WRITTEN = {
    "arabic-indic": lambda pk: str(pk).translate(ARABIC_INDIC),
    "underscore": lambda pk: f"{pk}_0",
    "20 digits": lambda pk: TWENTY_DIGITS,
}


@pytest.mark.parametrize("how", WRITTEN)
def test_assigning_to_a_user_id_not_in_ascii_digits_is_400(
    admin_client, admin_user, conversation, how
):
    user = WRITTEN[how](admin_user.pk)
    response = admin_client.post(inbox_url(conversation, "assign"), {"user": user})
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.assigned_to is None


def test_a_note_over_its_limit_is_refused_naming_the_limit(admin_client, conversation):
    response = admin_client.post(inbox_url(conversation, "note"), {"text": "x" * 6000})
    assert response.status_code == 400
    assert "5000" in response.json()["error"]
    assert not Note.objects.exists()
    empty = admin_client.post(inbox_url(conversation, "note"), {"text": "  "})
    assert empty.json()["error"] == "Write the note first."


# --- the admin ---


OUR_APPS = {"accounts", "comments", "history", "inbox", "messaging", "rules"}
LAX = {"IntegerField", "ModelChoiceField", "ModelMultipleChoiceField"}


def test_every_admin_form_of_ours_reads_numbers_and_ids_strictly(admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    lax = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in OUR_APPS:
            continue
        admins = [model_admin, *model_admin.get_inline_instances(request)]
        if not (
            model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
        ):
            continue  # read-only: no form is ever submitted
        for each in admins:
            form = each.get_formset(request).form if hasattr(each, "fk_name") else None
            form = form or each.get_form(request)
            for name, field in form.base_fields.items():
                if type(field).__name__ in LAX:  # Django's own, not one of instabot.admin_forms
                    lax.append(f"{type(each).__name__}.{name}")
    assert lax == []


@pytest.mark.parametrize("priority", ["1_0", ARABIC_INDIC_ONE])
def test_the_admin_refuses_a_priority_not_in_ascii_digits(admin_client, priority):
    response = admin_client.post(
        "/admin/rules/responserule/add/",
        {
            "trigger": "keywords",
            "keywords": "hours",
            "match_type": "contains",
            "response_text": "We open at 9.",
            "priority": priority,
            "is_active": "on",
            "messages-TOTAL_FORMS": "0",
            "messages-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "Enter a whole number in the digits 0-9." in response.content.decode()
    assert not ResponseRule.objects.exists()


def test_an_admin_object_url_in_other_digits_names_no_object(admin_client):
    rule = ResponseRule.objects.create(keywords="hours", response_text="We open at 9.")
    for digits in (str(rule.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")), "9" * 20):
        response = admin_client.get(f"/admin/rules/responserule/{digits}/change/")
        assert response.status_code == 302  # Django's "doesn't exist", not the rule
    assert admin_client.get(f"/admin/rules/responserule/{rule.pk}/change/").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        f"account__id__exact={ARABIC_INDIC_ONE}",
        f"account__id__exact={'9' * 25}",
        "account__exact=1_0",
    ],
)
def test_an_admin_filter_on_an_id_not_in_ascii_digits_is_400(admin_client, shop_a, query):
    assert admin_client.get(f"/admin/rules/responserule/?{query}").status_code == 400
    assert admin_client.get(f"/admin/messaging/conversation/?{query}").status_code == 400


def test_admin_filters_on_ids_and_other_fields_still_work(admin_client, shop_a):
    for url in (
        f"/admin/rules/responserule/?account__id__exact={shop_a.pk}",
        "/admin/comments/mention/?reply__status__exact=sent",
        "/admin/rules/responserule/?account__isnull=True",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_an_api_page_in_other_digits_is_404(api):
    assert api.get(f"/api/rules/?page={ARABIC_INDIC_ONE}").status_code == 404
    assert api.get("/api/rules/?page=1").status_code == 200
    assert api.get("/api/rules/?page=last").status_code == 200
