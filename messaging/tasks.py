"""Background work, through the Tasks framework: the backend is a setting (TASKS)."""

from datetime import datetime

from django.db import transaction
from django_tasks import task
from django_tasks_db import DatabaseBackend


@task()
def send_reply_task(message_id: int) -> None:
    # Imported here: services enqueues this task, so a module-level import would be circular.
    from messaging import services

    services.send_reply(message_id)


def enqueue_send(message_id: int, run_after: datetime | None = None) -> None:
    """Queue the send of an outgoing message, as part of the caller's transaction.

    The queued Message row is the source of truth; the task only says "look at it now".
    """
    send = send_reply_task.using(run_after=run_after) if run_after else send_reply_task
    if isinstance(send.get_backend(), DatabaseBackend):
        # The task row is written in the caller's transaction: it commits, or rolls back,
        # together with the reply it is for. No window where one exists without the other.
        send.enqueue(message_id)
    else:
        # A queue outside the database must not see the task before the row exists. If the
        # process dies between commit and enqueue, the worker's sweep re-enqueues the reply.
        transaction.on_commit(lambda: send.enqueue(message_id))
