import pytest

from messaging import worker_pass
from messaging.tests.conftest import (  # noqa: F401  (fixtures, shared with messaging's tests)
    deliver,
    graph_api,
    run_worker,
)


@pytest.fixture
def worker_steps(monkeypatch):
    """The steps registered for a worker's pass, as they are, restored after the test: a test
    may replace one (worker_pass.register_step with its name)."""
    monkeypatch.setattr(worker_pass, "_steps", list(worker_pass._steps))
    return worker_pass
