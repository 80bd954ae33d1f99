from inbox.tests.test_inbox_browser import browser  # noqa: F401  (fixture)
from messaging.tests.conftest import (  # noqa: F401  (fixtures)
    deliver,
    run_worker,
)
