"""What the admin's lists may be filtered by, through their URLs.

Django's admin accepts a lookup on any of a model's own fields in a list's query string
(`?text__regex=…`, `?timestamp__year=…`): a crafted regex can hold a web process for good on
SQLite, and odd transforms end in 500s. Our lists allow only what their filters and date
drill-down send; anything else is Django's own refusal (DisallowedModelAdminLookup, a 400).
"""

from django.db.models.constants import LOOKUP_SEP

# What Django's list filters put in the URL after a field: exact values, choices, ranges of
# dates, empty or not.
FILTER_LOOKUPS = {"exact", "in", "isnull", "gte", "gt", "lt", "lte", "id", "pk"}
DATE_DRILL_DOWN = {"year", "month", "day"}
# The largest id any of our tables can hold (a 64-bit signed key).
LARGEST_ID = 2**63 - 1


class FilterLookupsOnly:
    """For a ModelAdmin: the list answers only lookups its list filters and date hierarchy
    use."""

    def lookup_allowed(self, lookup, value, request=None):
        filters = self.get_list_filter(request) if request is not None else self.list_filter
        if lookup in {entry.parameter_name for entry in filters if _is_own_filter(entry)}:
            return True  # a filter of our own making reads its parameter itself
        field, *rest = lookup.split(LOOKUP_SEP)
        filtered = {_field_of(entry) for entry in filters} - {None}
        if field == self.date_hierarchy and rest and set(rest) <= DATE_DRILL_DOWN:
            return _small_number(value) and super().lookup_allowed(lookup, value, request)
        if field not in filtered or not set(rest) <= FILTER_LOOKUPS:
            return False
        return super().lookup_allowed(lookup, value, request)


def _field_of(list_filter_entry) -> str | None:
    """The model field a list_filter entry filters on (None: a filter of its own making)."""
    if isinstance(list_filter_entry, str):
        return list_filter_entry.split(LOOKUP_SEP)[0]
    if isinstance(list_filter_entry, tuple):
        return list_filter_entry[0].split(LOOKUP_SEP)[0]
    return None


def _is_own_filter(list_filter_entry) -> bool:
    return isinstance(list_filter_entry, type) and hasattr(list_filter_entry, "parameter_name")


def _small_number(value) -> bool:
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 4


def id_or_none(value: str) -> int | None:
    """An id from a URL, or None when it cannot be one of ours (not ASCII digits, too big)."""
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > LARGEST_ID:
        return None
    return int(value)
