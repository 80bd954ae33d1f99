"""Upserts with the ORM's own bulk_create(update_conflicts=True) on every database we run on."""

from django.db import connection


def upsert_target(fields: list[str]) -> dict:
    """bulk_create's unique_fields where the database takes them (MySQL/MariaDB upsert on any
    unique key, and refuse a target)."""
    if connection.features.supports_update_conflicts_with_target:
        return {"unique_fields": fields}
    return {}
