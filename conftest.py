import os

import pytest
from hypothesis import settings as hypothesis_settings

# How hard the property-based tests (Hypothesis) look: "quick", the default, for the runs a
# developer waits for; "ci", which .ci/run chooses (HYPOTHESIS_PROFILE=ci), as many examples
# as before the quick run had its own. A test's own settings give everything but the count.
hypothesis_settings.register_profile("quick", max_examples=25)
hypothesis_settings.register_profile("ci", max_examples=150)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Per-process caches outlive a test's rolled-back data: the rules matcher, the knowledge
    indexes, the accounts read by Instagram id, which accounts have outgoing webhooks (read
    every 30 s: a read due in the middle of a test would count one statement more there), the
    cache that holds API throttle counts (user ids repeat from test to test), and the outbox's
    sends under way in the background."""
    from django.core.cache import cache

    from accounts.services import forget_stored_accounts
    from knowledge.index import forget_knowledge
    from messaging.outbox.sender import OFF_PATH
    from outgoing_webhooks.delivering import forget_endpoints
    from rules.matching import forget_matcher

    forget_matcher()
    forget_knowledge()
    forget_stored_accounts()
    forget_endpoints()
    cache.clear()
    yield
    forget_matcher()
    forget_knowledge()
    forget_stored_accounts()
    forget_endpoints()
    # Sends that call no Meta a test left under way (its rows are gone): not recorded later.
    OFF_PATH.forget()


@pytest.fixture
def api(admin_user):
    """The REST API, as a superuser."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    return client
