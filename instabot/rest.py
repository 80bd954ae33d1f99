"""The REST API's shared pieces: who may do what, reading JSON bodies and query parameters."""

import math

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions, pagination, parsers, permissions, serializers

from instabot.numbers import ID_DIGITS, read_id, read_whole_number
from meta.cleaning import LONE_SURROGATE

__all__ = [
    "ID_DIGITS",
    "PATH_ID",
    "JSONParser",
    "KeysetPagination",
    "ModelSerializer",
    "PageNumberPagination",
    "id_param",
]

# A viewset's `lookup_value_regex`: ASCII digits only in /api/<things>/<id>/ (int() reads an
# Arabic-Indic one, U+0661, as 1: /api/rules/<it>/ would act on rule 1); anything else is 404.
PATH_ID = ID_DIGITS.pattern


class StaffModelPermissions(permissions.DjangoModelPermissions):
    """Staff only, and every action needs its Django permission: reading needs "view".

    (DRF's own DjangoModelPermissions lets any authenticated user read.) Object-level access
    follows the same model permissions: Django's permission backend has no per-object rules.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_staff) and super().has_permission(
            request, view
        )


def require_permission(request, permission: str) -> None:
    """For actions whose HTTP verb does not say what they change (POST …/reply/)."""
    if not request.user.has_perm(permission):
        raise exceptions.PermissionDenied(f"You need the {permission} permission.")


def id_param(request, name: str) -> int | None:
    """An id from the query string, or None; anything else is the client's error (400)."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    # ASCII digits only: "²".isdigit() is true, but int() refuses it.
    if (id_ := read_id(value)) is None:
        raise exceptions.ValidationError({name: f"Expected an id, got {value[:40]!r}."})
    return id_


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing with a 400 (not a 500, nor a wrong value) what it would
    choke on later: JSON nested too deeply for Python's reader, strings holding lone
    surrogates, and numbers too large for a float (1e999 is read as infinity: a text field
    would take it as "inf")."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
        if problem := _unreadable_part(data):
            raise exceptions.ParseError(f"JSON parse error - {problem}")
        return data


def _unreadable_part(data) -> str:
    # A loop, not recursion: the data may be nested almost as deeply as the reader allows.
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return (
                    "a string holds a lone surrogate (half of a UTF-16 pair, such as \\ud800 "
                    "alone), which is not a character."
                )
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "a number is too large (or not a number)."
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return ""


class IntegerField(serializers.IntegerField):
    """DRF's IntegerField, reading whole numbers strictly (instabot.numbers): "\\u0661",
    "1_0", 1.9 and 1e3 are refused, not read as 1, 10, 1 and 1000."""

    def to_internal_value(self, data):
        try:
            return read_whole_number(data)
        except ValueError:
            self.fail("invalid")


class PrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """DRF's PrimaryKeyRelatedField, reading ids strictly (instabot.numbers): "\\u0661" and 1.9
    are refused, not read as 1."""

    def to_internal_value(self, data):
        if self.pk_field is None and read_id(data) is None:
            if isinstance(data, str | int) and not isinstance(data, bool):
                self.fail("does_not_exist", pk_value=str(data)[:40])
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    """The base of our serializers: integer fields and related ids in ASCII digits only."""

    serializer_field_mapping = {
        model_field: IntegerField if field is serializers.IntegerField else field
        for model_field, field in serializers.ModelSerializer.serializer_field_mapping.items()
    }
    serializer_related_field = PrimaryKeyRelatedField


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's pages, numbered in ASCII digits ("?page=\\u0661" is not page 1): 404, as for a
    page past the last."""

    def get_page_number(self, request, paginator):
        number = super().get_page_number(request, paginator)
        if number in self.last_page_strings or (isinstance(number, int)):
            return number
        if read_id(number) is None:
            raise exceptions.NotFound("Invalid page.")
        return number


class KeysetPagination(pagination.CursorPagination):
    """Pages of a long list by position (keyset), for the message lists: the next page is
    read from where the last one ended (its `next` link), with no COUNT and no OFFSET, as fast
    at the millionth message as at the first. The answer has `next`, `previous` and `results`.
    `?page=N` still answers DRF's numbered pages, with `count`, as these lists did before.

    `ordering` is (timestamp field, id), newest first by default."""

    ordering = ("-created_at", "-id")

    def __init__(self, ordering: tuple[str, ...] | None = None):
        if ordering is not None:
            self.ordering = ordering
        self.numbered = None

    def paginate_queryset(self, queryset, request, view=None):
        if "page" in request.query_params:
            self.numbered = PageNumberPagination()
            return self.numbered.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        if self.numbered is not None:
            return self.numbered.get_paginated_response(data)
        return super().get_paginated_response(data)

    def decode_cursor(self, request):
        """DRF's, and a position that is a timestamp: a crafted cursor is a 404 as a garbled
        one is, never a database error."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                moment = parse_datetime(cursor.position)
            except ValueError:  # shaped as a timestamp, but not one (month 13)
                moment = None
            # Our cursors carry the offset: a naive time was not written by us.
            if moment is None or moment.tzinfo is None:
                raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor
