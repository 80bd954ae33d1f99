import copy

import pytest
from django.contrib.auth.models import Permission, User

from accounts.models import AccountAccess, InstagramBusinessAccount
from messaging.tests.conftest import (  # noqa: F401  (fixtures)
    deliver,
    fake_graph,
    load_payload,
    run_worker,
)

SHOP_A_ID = "17841400000000001"  # the fixtures' account
SHOP_B_ID = "17841400000000002"

STAFF_PERMISSIONS = [
    "view_conversation",
    "change_conversation",
    "view_message",
    "view_webhookdelivery",
    "view_responserule",
    "add_responserule",
    "change_responserule",
    "delete_responserule",
    "view_instagrambusinessaccount",
    "change_instagrambusinessaccount",
    "add_instagrambusinessaccount",
    "view_savedreply",
    "add_savedreply",
    "change_savedreply",
    "delete_savedreply",
]


def dm(account_id: str, customer_id: str, mid: str, text: str, *, payload="messages__text"):
    """A customer's DM to an account, shaped as Meta sends it."""
    body = copy.deepcopy(load_payload(payload))
    entry = body["entry"][0]
    entry["id"] = account_id
    event = entry["messaging"][0]
    event["sender"]["id"], event["recipient"]["id"] = customer_id, account_id
    event["message"]["mid"], event["message"]["text"] = mid, text
    return body


def make_account(instagram_id: str, name: str) -> InstagramBusinessAccount:
    account = InstagramBusinessAccount(instagram_id=instagram_id, name=name, username=name.lower())
    account.set_access_token(f"EAAG-{name}")
    account.save()
    return account


@pytest.fixture
def shop_a(db):
    return make_account(SHOP_A_ID, "Alpha")


@pytest.fixture
def shop_b(db):
    return make_account(SHOP_B_ID, "Bravo")


def staff(username: str, *accounts, all_accounts=False, password="pw-staff-123") -> User:
    user = User.objects.create_user(username, password=password, is_staff=True)
    codenames = [*STAFF_PERMISSIONS, *(["see_all_accounts"] if all_accounts else [])]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    for account in accounts:
        AccountAccess.objects.create(user=user, account=account)
    return user


@pytest.fixture
def limited_user(shop_a):
    """Staff limited to shop A."""
    return staff("limited", shop_a)
