"""What the admin's lists may be filtered by, through their URLs.

Django's admin accepts a lookup on any of a model's own fields in a list's query string
(`?text__regex=…`, `?timestamp__year=…`): a crafted regex can hold a web process for good on
SQLite, and odd transforms end in 500s. Our lists allow only what their filters and date
drill-down send; anything else is Django's own refusal (DisallowedModelAdminLookup, a 400).
"""

from django.contrib.admin.utils import unquote
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP

from instabot.numbers import read_id, read_whole_number

# What Django's list filters put in the URL after a field: exact values, choices, ranges of
# dates, empty or not.
FILTER_LOOKUPS = {"exact", "in", "isnull", "gte", "gt", "lt", "lte", "id", "pk"}
DATE_DRILL_DOWN = {"year", "month", "day"}


class FilterLookupsOnly:
    """For a ModelAdmin: the list answers only lookups its list filters and date hierarchy
    use, with values read as the rest of the admin reads them (an id or a number in ASCII
    digits, instabot.numbers); an object's URL names it by its id in ASCII digits too."""

    def get_object(self, request, object_id, from_field=None):
        # Django reads "/<id>/change/" with int(): "\u0661" would open the object with id 1,
        # 20 digits overflow. Neither names an object of ours: "doesn't exist", as for any.
        if from_field is None and _integer_field(self.model._meta.pk):
            if read_id(unquote(object_id)) is None:
                return None
        return super().get_object(request, object_id, from_field)

    def lookup_allowed(self, lookup, value, request=None):
        if not _value_fits(self.model, lookup, value):
            return False  # Django's refusal: a 400
        filters = self.get_list_filter(request) if request is not None else self.list_filter
        if lookup in {entry.parameter_name for entry in filters if _is_own_filter(entry)}:
            return True  # a filter of our own making reads its parameter itself
        field, *rest = lookup.split(LOOKUP_SEP)
        if field == self.date_hierarchy and rest and set(rest) <= DATE_DRILL_DOWN:
            return _small_number(value) and super().lookup_allowed(lookup, value, request)
        # A filter's own path (`account`, or `reply__status` across a relation), then only
        # what Django's filters append to it (`__exact`, `__id__exact`, `__isnull` …).
        for path in {_path_of(entry) for entry in filters} - {None}:
            if lookup == path or lookup.startswith(path + LOOKUP_SEP):
                tail = lookup[len(path) :].split(LOOKUP_SEP)[1:]
                if set(tail) <= FILTER_LOOKUPS:
                    return super().lookup_allowed(lookup, value, request)
        return False


def _path_of(list_filter_entry) -> str | None:
    """The field path a list_filter entry filters on (None: a filter of its own making)."""
    if isinstance(list_filter_entry, str):
        return list_filter_entry
    if isinstance(list_filter_entry, tuple):
        return list_filter_entry[0]
    return None


def _is_own_filter(list_filter_entry) -> bool:
    return isinstance(list_filter_entry, type) and hasattr(list_filter_entry, "parameter_name")


def _small_number(value) -> bool:
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 4


def id_or_none(value: str) -> int | None:
    """An id from a URL, or None when it cannot be one of ours (not ASCII digits, too big)."""
    return read_id(value)


def _integer_field(field) -> bool:
    return isinstance(field, models.IntegerField | models.AutoField)


def _value_fits(model, lookup: str, value) -> bool:
    """Whether a list filter's value can be what its field holds: ids and numbers in ASCII
    digits (`?account__id__exact=\u0661` would filter on account 1)."""
    name, *rest = lookup.split(LOOKUP_SEP)
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return True  # not a field: lookup_allowed decides
    if (rest and rest[-1] == "isnull") or not isinstance(value, str):
        return True
    if field.is_relation:
        # `account`, `account__id__exact`: the related id; `reply__status` goes on to
        # another field, which this does not follow.
        if not field.concrete or (rest and rest[0] not in {"id", "pk", "exact", "in"}):
            return True
        field = field.target_field
    if not _integer_field(field) or (rest and set(rest) <= DATE_DRILL_DOWN):
        return True
    values = value.split(",") if rest and rest[-1] == "in" else [value]
    try:
        return all(read_whole_number(item) is not None for item in values if item != "")
    except ValueError:
        return False
