"""Site-wide request handling of our own."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseBadRequest

logger = logging.getLogger(__name__)


class RefuseNulCharactersMiddleware:
    """A NUL ("%00") in the path or the query string is a 400 at every door (the API's lists,
    the admin's filters, search and autocomplete, the inbox): no text we serve holds one, and
    PostgreSQL refuses it in a query, which would end in a 500. Form fields refuse it
    themselves (Django's and DRF's CharField), with the field's error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            logger.info("Refused %s %s: a NUL character in the URL", request.method, request.path)
            # 400: the client's URL cannot name anything we hold.
            return HttpResponseBadRequest(
                "Bad request: a NUL character (%00) in the URL.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


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
