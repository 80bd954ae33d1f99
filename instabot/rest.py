"""The REST API's shared pieces: who may do what, and reading query parameters."""

from rest_framework import exceptions, permissions


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
    if not value.isdigit():
        raise exceptions.ValidationError({name: f"Expected an id, got {value!r}."})
    return int(value)
