import copy

import pytest

from accounts.models import InstagramBusinessAccount
from messaging.tests.conftest import (  # noqa: F401  (fixtures)
    ACCOUNT_ID,
    deliver,
    graph_api,
    load_payload,
    run_worker,
)

CUSTOMER = "1234567890123456"


def dm(text: str, mid: str, *, customer: str = CUSTOMER, payload: str = "messages__text"):
    """A customer's DM to the fixtures' account, shaped as Meta sends it."""
    body = copy.deepcopy(load_payload(payload))
    event = body["entry"][0]["messaging"][0]
    event["sender"]["id"] = customer
    event["message"]["mid"] = mid
    event["message"]["text"] = text
    return body


@pytest.fixture
def shop(db):
    account = InstagramBusinessAccount(instagram_id=ACCOUNT_ID, name="Shop", username="shop")
    account.set_access_token("EAAG-shop")
    account.save()
    return account
