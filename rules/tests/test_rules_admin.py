"""Staff edit rules in the admin and try messages against them."""

import pytest
from django.contrib.auth.models import Permission, User

from accounts.models import InstagramBusinessAccount
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/rules/responserule/"
TRY = "/admin/rules/responserule/try/"


@pytest.fixture
def rules():
    shop = InstagramBusinessAccount.objects.create(instagram_id="1", name="Shop")
    return [
        ResponseRule.objects.create(keywords="hours, open", response_text="10-19", priority=2),
        ResponseRule.objects.create(
            keywords="price", response_text="Shop prices", match_type="word", account=shop
        ),
        ResponseRule.objects.create(keywords="sale", response_text="No sale", is_active=False),
    ]


def test_list_has_search_and_filters(admin_client, rules):
    page = admin_client.get(CHANGELIST, {"q": "price"}).content.decode()
    assert "Shop prices" in page and "10-19" not in page
    page = admin_client.get(CHANGELIST, {"is_active__exact": "0"}).content.decode()
    assert "No sale" in page and "10-19" not in page
    page = admin_client.get(CHANGELIST, {"match_type__exact": "word"}).content.decode()
    assert "Shop prices" in page and "10-19" not in page
    page = admin_client.get(
        CHANGELIST, {"account__id__exact": rules[1].account_id}
    ).content.decode()
    assert "Shop prices" in page and "10-19" not in page


def test_priority_and_active_are_edited_in_the_list(admin_client, rules):
    ordered = list(ResponseRule.objects.all())  # the list's order
    data = {"form-TOTAL_FORMS": "3", "form-INITIAL_FORMS": "3", "_save": "Save"}
    for index, rule in enumerate(ordered):
        data[f"form-{index}-id"] = str(rule.pk)
        data[f"form-{index}-priority"] = "7" if rule == rules[0] else str(rule.priority)
        if rule != rules[0]:
            data[f"form-{index}-is_active"] = "on"
    response = admin_client.post(CHANGELIST, data)
    assert response.status_code == 302
    rules[0].refresh_from_db()
    rules[2].refresh_from_db()
    assert (rules[0].priority, rules[0].is_active) == (7, False)
    assert rules[2].is_active is True


def test_the_list_page_has_the_try_box(admin_client, rules):
    page = admin_client.get(CHANGELIST).content.decode()
    assert 'id="try-message"' in page
    assert f'action="{TRY}"' in page


def test_try_a_message_shows_the_rule_and_its_reply(admin_client, rules):
    page = admin_client.get(TRY, {"text": "Are you OPEN today?"}).content.decode()
    assert f"Rule #{rules[0].pk} would answer" in page
    assert "10-19" in page


def test_try_a_message_respects_the_account(admin_client, rules):
    # The price rule belongs to one shop: not an answer for "any account".
    page = admin_client.get(TRY, {"text": "price?"}).content.decode()
    assert "No rule matches" in page
    assert "Shop prices" not in page
    page = admin_client.get(
        TRY, {"text": "price?", "account": rules[1].account_id}
    ).content.decode()
    assert f"Rule #{rules[1].pk} would answer" in page
    assert "Shop prices" in page


def test_try_a_message_without_a_match_shows_the_fallback(admin_client, rules, settings):
    settings.DEFAULT_REPLY_TEXT = "We'll be in touch"
    page = admin_client.get(TRY, {"text": "sale"}).content.decode()  # the sale rule is inactive
    assert "No rule matches" in page
    assert "We&#x27;ll be in touch" in page


def test_try_needs_permission_to_view_rules(client, rules):
    user = User.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    client.force_login(user)
    assert client.get(TRY, {"text": "open"}).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_responserule"))
    assert client.get(TRY, {"text": "open"}).status_code == 200


def test_non_staff_cannot_reach_the_rules(client, rules):
    user = User.objects.create_user("customer", password="pw-customer-123")
    client.force_login(user)
    assert client.get(TRY, {"text": "open"}).status_code == 302  # to the admin login
