import pytest


@pytest.fixture(autouse=True)
def fresh_rules_matcher():
    """The rules matcher is a per-process cache; a test's rules vanish with its transaction."""
    from rules.matching import forget_matcher

    forget_matcher()
    yield
    forget_matcher()
