"""The WSGI application: Meta's webhook through a lean middleware stack, the rest of the site
through the whole one.

Meta waits for our answer to every delivery, and the middleware that staff pages need
(sessions, logins, messages, CSRF, framing headers, login lockouts) was about a fifth of the
webhook's time (in-process 0.27 ms with it, 0.22 ms without; docs/performance.md). Django
has no per-URL middleware, so requests under WEBHOOK_PATH_PREFIX go to a second Django
handler, built with settings.WEBHOOK_MIDDLEWARE; everything else goes to Django's own, with
settings.MIDDLEWARE. Both resolve the same URLconf: the prefix only chooses the middleware.
"""

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

# Where instabot/urls.py mounts messaging's webhook URLs (PATH_INFO, below any SCRIPT_NAME).
WEBHOOK_PATH_PREFIX = "/webhooks/"


class WebhookHandler(WSGIHandler):
    """Django's WSGI handler, with settings.WEBHOOK_MIDDLEWARE in place of settings.MIDDLEWARE."""

    def load_middleware(self, is_async=False):
        # Django builds the chain from settings.MIDDLEWARE, and only here. Lending it the
        # webhook's list for that call, once when the process starts, keeps Django's own
        # building (sync/async adaptation, the hooks each middleware has) rather than a copy.
        site_middleware = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.WEBHOOK_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = site_middleware


class SiteApplication:
    """Hands each request to the webhook's handler or the site's, by its path."""

    def __init__(self):
        self.site = WSGIHandler()
        self.webhook = WebhookHandler()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(WEBHOOK_PATH_PREFIX):
            return self.webhook(environ, start_response)
        return self.site(environ, start_response)


def get_application() -> SiteApplication:
    """As django.core.wsgi.get_wsgi_application: set Django up, then build the handlers."""
    django.setup(set_prefix=False)
    return SiteApplication()
