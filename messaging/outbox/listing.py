"""Every send of every kind in one list, for the admin (messaging.admin.OutboxAdmin): the rows
of each registered kind a user may see, as one UNION of the same columns, newest first."""

from django.db.models import CharField, F, Value

from accounts.access import scope
from messaging.models import OutboxStatus, WaitingFor
from messaging.outbox.kinds import registered

# The states staff filter on: the outbox's, and "waiting for credentials" among the queued.
WAITING_FOR_CREDENTIALS = "credentials"
STATES = [*OutboxStatus.choices, (WAITING_FOR_CREDENTIALS, "Waiting for credentials")]

COLUMNS = (
    "pk",
    "status",
    "waiting_for",
    "due_at",
    "attempts",
    "last_error",
    "claimed_by",
    "created_at",
    "text",
)


def kinds_visible_to(user) -> list:
    """The kinds whose rows `user` may see: those whose context (the conversation, the
    comment, the mention) they may view."""
    return [
        kind
        for kind in registered()
        # "app_label_model": an app's label may hold "_", a model's name does not.
        if user.has_perm("{}.view_{}".format(*kind.context_admin.rsplit("_", 1)))
    ]


def every_send(user, *, kind: str = "", state: str = "", account: str = ""):
    """The sends `user` may see, newest first (None: no kind they may see): each a dict of
    COLUMNS, `send_kind`, `send_account` (the Instagram id) and `send_context` (the id of
    the row that shows it in context: the conversation, the comment, the mention)."""
    parts = []
    for each in kinds_visible_to(user):
        if kind and each.name != kind:
            continue
        rows = scope(each.listed(), user, each.account_path)
        if state == WAITING_FOR_CREDENTIALS:
            rows = rows.filter(status=OutboxStatus.QUEUED, waiting_for=WaitingFor.CREDENTIALS)
        elif state:
            rows = rows.filter(status=state)
        if account:
            rows = rows.filter(**{each.account_id_field: account})
        parts.append(
            rows.order_by()
            .annotate(
                send_kind=Value(each.name, output_field=CharField()),
                send_account=F(each.account_id_field),
                send_context=F(f"{each.context_field}_id"),
            )
            .values(*COLUMNS, "send_kind", "send_account", "send_context")
        )
    if not parts:
        return None
    first, *rest = parts
    return first.union(*rest, all=True).order_by("-created_at", "-pk")
