"""Ice breakers and the persistent menu: edited in the admin, pushed to Meta with an admin
action or sync_messenger_profile, read back, and drift shown."""

import html
import json
import re
from io import StringIO

import pytest
import responses
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.models import InstagramBusinessAccount
from accounts.tests.test_accounts_admin import change_url
from accounts.tests.test_accounts_admin import form as admin_form

pytestmark = pytest.mark.django_db

PROFILE_URL = re.compile(rf"{re.escape(settings.GRAPH_API_BASE_URL)}/v[\d.]+/me/messenger_profile")


@pytest.fixture
def shop():
    account = InstagramBusinessAccount(instagram_id="17841400000000001", name="Shop")
    account.set_access_token("EAAG-shop-token")
    account.save()
    account.ice_breakers.create(question="What are your prices?", payload="PRICES", position=0)
    account.ice_breakers.create(question="Où êtes-vous ?", payload="WHERE", locale="fr_FR")
    account.menu_items.create(title="Main menu", payload="MAIN_MENU", position=0)
    account.menu_items.create(title="Shop", url="https://shop.example", position=1)
    return account


def meta_profile(mock, data: dict) -> None:
    mock.add(responses.GET, PROFILE_URL, json={"data": [data] if data else []})


def test_push_sends_ours_reads_it_back_and_finds_no_drift(shop):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, PROFILE_URL, json={"result": "success"})
        meta_profile(mock, shop.messenger_profile().to_graph())
        out = StringIO()
        call_command("sync_messenger_profile", account=[shop.pk], stdout=out)
        body = json.loads(mock.calls[0].request.body)
    assert "pushed; Meta has the same" in out.getvalue()
    assert body["platform"] == "instagram"
    assert body["ice_breakers"] == [
        {
            "locale": "default",
            "call_to_actions": [{"question": "What are your prices?", "payload": "PRICES"}],
        },
        {
            "locale": "fr_FR",
            "call_to_actions": [{"question": "Où êtes-vous ?", "payload": "WHERE"}],
        },
    ]
    assert body["persistent_menu"][0]["call_to_actions"][1] == {
        "type": "web_url",
        "title": "Shop",
        "url": "https://shop.example",
    }
    shop.refresh_from_db()
    assert shop.messenger_profile_drift() is False


def test_what_meta_has_differently_shows_as_drift(shop, admin_client):
    with responses.RequestsMock() as mock:
        meta_profile(
            mock,
            {
                "ice_breakers": [
                    {
                        "locale": "default",
                        "call_to_actions": [{"question": "Old?", "payload": "OLD"}],
                    }
                ]
            },
        )
        call_command("sync_messenger_profile", check=True, stdout=StringIO())
    shop.refresh_from_db()
    assert shop.messenger_profile_drift() is True
    page = admin_client.get(change_url(shop)).content.decode()
    assert "DIFFERENT from what is set here" in page and "Old? → OLD" in page


def test_an_empty_menu_is_deleted_at_meta(shop):
    shop.menu_items.all().delete()
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, PROFILE_URL, json={"result": "success"})
        mock.add(responses.DELETE, PROFILE_URL, json={"result": "success"})
        meta_profile(mock, {})
        call_command("sync_messenger_profile", stdout=StringIO())
        deleted = json.loads(mock.calls[1].request.body)
    assert deleted == {"fields": ["persistent_menu"]}


def test_meta_refusing_the_push_is_recorded_and_said(shop):
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            PROFILE_URL,
            status=400,
            json={"error": {"message": "(#100) Invalid parameter", "code": 100}},
        )
        out = StringIO()
        call_command("sync_messenger_profile", stdout=out)
    assert "not pushed: Graph API error 100" in out.getvalue()
    shop.refresh_from_db()
    assert "push refused" in shop.messenger_profile_problem


def test_the_admin_action_pushes_the_selected_accounts(shop, admin_client):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, PROFILE_URL, json={"result": "success"})
        meta_profile(mock, shop.messenger_profile().to_graph())
        response = admin_client.post(
            "/admin/accounts/instagrambusinessaccount/",
            {"action": "push_messenger_profile", "_selected_action": [shop.pk]},
            follow=True,
        )
    assert "pushed; Meta has the same ice breakers and menu" in response.content.decode()


def inline_rows(prefix: str, rows: list[dict]) -> dict:
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": "0"}
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


@pytest.mark.parametrize(
    "rows, says",
    [
        (
            [{"locale": "default", "question": f"Q{i}?", "payload": f"Q{i}"} for i in range(5)],
            "At most 4",
        ),
        ([{"locale": "en_US", "question": "Q?", "payload": "Q"}], '"default" locale'),
        ([{"locale": "default", "question": "Q?", "payload": "has space"}], "without spaces"),
    ],
)
def test_the_admin_checks_metas_limits_on_ice_breakers(admin_client, rows, says):
    data = {**admin_form(), **inline_rows("ice_breakers", rows)}
    page = admin_client.post("/admin/accounts/instagrambusinessaccount/add/", data)
    assert page.status_code == 200
    assert says in html.unescape(page.content.decode())
    assert not InstagramBusinessAccount.objects.exists()


def test_the_admin_saves_ice_breakers_and_menu_items(admin_client):
    data = {
        **admin_form(),
        **inline_rows(
            "ice_breakers",
            [{"locale": "default", "question": "Prices?", "payload": "PRICES", "position": "0"}],
        ),
        **inline_rows(
            "menu_items", [{"title": "Our shop", "url": "https://shop.example", "position": "0"}]
        ),
    }
    assert (
        admin_client.post("/admin/accounts/instagrambusinessaccount/add/", data).status_code == 302
    )
    account = InstagramBusinessAccount.objects.get()
    assert account.messenger_profile().to_graph()["ice_breakers"][0]["call_to_actions"] == [
        {"question": "Prices?", "payload": "PRICES"}
    ]


@pytest.mark.parametrize("account", ["\u0663", "99999999999999999999999"])
def test_the_command_takes_account_ids_in_ascii_digits_only(account):
    with pytest.raises(CommandError, match="not an account id"):
        call_command("sync_messenger_profile", "--account", account)
