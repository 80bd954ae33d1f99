from inbox.tests.conftest import shop_a  # noqa: F401 (fixtures)
from messaging.tests.conftest import deliver  # noqa: F401
