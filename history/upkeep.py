"""The history work a worker's upkeep runs each pass (messaging.upkeep): stalled imports back to
work, then the reconciliation of every account whose pass is due."""

from history.importing import requeue_stalled_imports
from history.reconciliation import reconcile_due_accounts


def run() -> None:
    requeue_stalled_imports()
    reconcile_due_accounts()
