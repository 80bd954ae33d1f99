from messaging.tests.conftest import (  # noqa: F401  (fixtures)
    deliver,
    run_worker,
)
