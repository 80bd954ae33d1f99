import pytest


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Per-process caches outlive a test's rolled-back data: the rules matcher, the knowledge
    indexes, the accounts read by Instagram id, the cache that holds API throttle counts
    (user ids repeat from test to test), the outbox's sends under way in the background."""
    from django.core.cache import cache

    from accounts.services import forget_stored_accounts
    from knowledge.index import forget_knowledge
    from messaging.outbox.sender import OFF_PATH
    from rules.matching import forget_matcher

    forget_matcher()
    forget_knowledge()
    forget_stored_accounts()
    cache.clear()
    yield
    forget_matcher()
    forget_knowledge()
    forget_stored_accounts()
    # Sends that call no Meta a test left under way (its rows are gone): not recorded later.
    OFF_PATH.forget()


@pytest.fixture
def api(admin_user):
    """The REST API, as a superuser."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    return client
