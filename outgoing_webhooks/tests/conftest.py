import pytest
import responses

from inbox.tests.conftest import SHOP_B_ID, make_account
from instabot import safe_urls
from messaging.tests.conftest import ACCOUNT_ID
from outgoing_webhooks.models import WebhookEndpoint

HOOK_URL = "https://hooks.example.com/instabot"
# What the test's DNS answers: example.com is public; the rest resolve where attackers aim.
ADDRESSES = {
    "hooks.example.com": ["93.184.215.14"],
    "rebinding.example.com": ["93.184.215.14", "10.0.0.7"],
    "metadata.example.com": ["169.254.169.254"],
    "localhost": ["127.0.0.1", "::1"],
}


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    """No DNS here: hosts resolve as ADDRESSES says (unknown ones do not)."""

    def resolve(host, port):
        if host not in ADDRESSES:
            raise OSError("unknown host")
        return ADDRESSES[host]

    monkeypatch.setattr(safe_urls, "resolve", resolve)


@pytest.fixture
def shops(db):
    return make_account(ACCOUNT_ID, "Alpha"), make_account(SHOP_B_ID, "Bravo")


@pytest.fixture
def endpoint(shops):
    hook = WebhookEndpoint(
        account=shops[0],
        url=HOOK_URL,
        events=["contact.tag_added", "conversation.resolved", "comment.answered"],
    )
    hook.new_secret()
    hook.save()
    return hook


@pytest.fixture
def receiver():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
