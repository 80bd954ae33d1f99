import pytest


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Per-process caches outlive a test's rolled-back data: the rules matcher, the knowledge
    indexes, the accounts read by Instagram id, and the cache that holds API throttle counts
    (user ids repeat from test to test)."""
    from django.core.cache import cache

    from accounts.services import forget_stored_accounts
    from knowledge.index import forget_knowledge
    from rules.matching import forget_matcher

    forget_matcher()
    forget_knowledge()
    forget_stored_accounts()
    cache.clear()
    yield
    forget_matcher()
    forget_knowledge()
    forget_stored_accounts()


@pytest.fixture
def api(admin_user):
    """The REST API, as a superuser."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    return client
