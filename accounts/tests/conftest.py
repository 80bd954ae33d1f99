import pytest

from devtools.fake_graph import FakeGraphAPI
from inbox.tests.test_inbox_browser import browser  # noqa: F401  (fixture)
from messaging.tests.conftest import (  # noqa: F401  (fixtures)
    deliver,
    run_worker,
)

INSTAGRAM_APP_ID, INSTAGRAM_APP_SECRET = "2000000000000002", "test-instagram-app-secret"
FACEBOOK_APP_ID = "1000000000000001"


@pytest.fixture
def fake_meta(settings):
    """The fake Graph API standing in for Meta, with the connect settings pointing at it."""
    settings.INSTAGRAM_APP_ID, settings.INSTAGRAM_APP_SECRET = (
        INSTAGRAM_APP_ID,
        INSTAGRAM_APP_SECRET,
    )
    settings.FACEBOOK_APP_ID = FACEBOOK_APP_ID
    fake = FakeGraphAPI().start()
    settings.GRAPH_API_BASE_URL = settings.INSTAGRAM_GRAPH_API_BASE_URL = fake.base_url
    settings.INSTAGRAM_OAUTH_AUTHORIZE_URL = f"{fake.base_url}/oauth/authorize"
    settings.INSTAGRAM_OAUTH_TOKEN_URL = f"{fake.base_url}/oauth/access_token"
    settings.FACEBOOK_OAUTH_DIALOG_URL = f"{fake.base_url}/v21.0/dialog/oauth"
    yield fake
    fake.stop()
