"""Site-wide request handling of our own."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    """A page or API call that finds the database down, refusing connections or out of pooled
    ones answers 503 (try again soon), not 500 (our bug). The webhook and /healthz answer
    their own 503s before this is reached."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error(
            "%s %s: the database is unavailable: %s", request.method, request.path, exception
        )
        response = HttpResponse(
            "The database is unavailable for the moment; please try again shortly.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = "5"
        return response
