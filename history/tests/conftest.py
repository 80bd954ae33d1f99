import pytest

from accounts.models import InstagramBusinessAccount
from devtools.fake_graph import FakeGraphAPI
from messaging.tests.conftest import deliver, run_worker  # noqa: F401 (fixtures)

ACCOUNT_ID = "17841400000000001"


@pytest.fixture
def account(db):
    account = InstagramBusinessAccount(instagram_id=ACCOUNT_ID, name="Shop", username="shop")
    account.set_access_token("EAAG-page-token")
    account.save()
    return account


@pytest.fixture
def meta(settings):
    """Our fake Graph API holding the account's threads (fake.inbox), at full speed: these
    tests are about what is stored, not the pace (test_pace.py keeps Meta's)."""
    fake = FakeGraphAPI(account_id=ACCOUNT_ID).start()
    fake.inbox.rate_per_second = 0
    settings.GRAPH_API_BASE_URL = fake.base_url
    settings.CONVERSATIONS_API_RATE_PER_SECOND = 1000
    yield fake
    fake.stop()
