"""The REST API's shared pieces: who may do what, reading JSON bodies and query parameters."""

import re

from rest_framework import exceptions, parsers, permissions, serializers

# A JSON string may escape half of a UTF-16 pair on its own ("\ud800"): not a character, and
# neither the database nor our JSON answers can hold it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# Ids are 64-bit integers: at most 18 digits always fit (19 may not).
ID_DIGITS = re.compile(r"[0-9]{1,18}")

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
    if not ID_DIGITS.fullmatch(value):
        raise exceptions.ValidationError({name: f"Expected an id, got {value[:40]!r}."})
    return int(value)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing with a 400 (not a 500) what it would choke on later: JSON
    nested too deeply for Python's reader, and strings holding lone surrogates."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
        if _holds_lone_surrogate(data):
            raise exceptions.ParseError(
                "JSON parse error - a string holds a lone surrogate (half of a UTF-16 pair, "
                "such as \\ud800 alone), which is not a character."
            )
        return data


def _holds_lone_surrogate(data) -> bool:
    # A loop, not recursion: the data may be nested almost as deeply as the reader allows.
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _is_ascii_text(data) -> bool:
    return not isinstance(data, str) or data.isascii()


class IntegerField(serializers.IntegerField):
    """DRF's IntegerField, refusing digits other than ASCII 0-9 ("\\u0661" is 1 to int())."""

    def to_internal_value(self, data):
        if not _is_ascii_text(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class PrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """DRF's PrimaryKeyRelatedField, refusing ids written in other than ASCII digits."""

    def to_internal_value(self, data):
        if not _is_ascii_text(data):
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    """The base of our serializers: integer fields and related ids in ASCII digits only."""

    serializer_field_mapping = {
        model_field: IntegerField if field is serializers.IntegerField else field
        for model_field, field in serializers.ModelSerializer.serializer_field_mapping.items()
    }
    serializer_related_field = PrimaryKeyRelatedField
