# The browser and a signed-in page, as the admin's own browser tests use them.
from messaging.tests.test_admin_layout_browser import browser, signed_in  # noqa: F401
