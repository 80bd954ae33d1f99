"""Site-wide request handling of our own."""

import logging

from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpResponse, HttpResponseBadRequest
from psycopg_pool import PoolTimeout

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


def database_problem(exc: DatabaseError) -> str:
    """Why the database could not be used, for a 503's reason (the webhook, /healthz) and
    the log: which of the usual
    causes it is. Not the driver's message, which names the server's address: that one goes to
    the log only."""
    message = str(exc).lower()
    if isinstance(exc.__cause__, PoolTimeout):
        pool = connection.settings_dict["OPTIONS"]["pool"]
        return (
            f"no database connection free within {pool['timeout']:g} s: this process's pool "
            f"of {pool['max_size']} is all in use, or the database is not answering"
        )
    if "too many" in message or "connection slots are reserved" in message:
        # PostgreSQL: "sorry, too many clients already"; MySQL/MariaDB: error 1040.
        return "the database refuses new connections: too many clients (max_connections)"
    return f"database unreachable ({type(exc).__name__})"
