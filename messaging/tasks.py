"""Background work, through the Tasks framework: the backend is a setting (TASKS)."""

from datetime import datetime

from django.db import transaction
from django_tasks import task
from django_tasks_db import DatabaseBackend

# Services enqueue these tasks, so the tasks import services inside their bodies.


@task()
def send_reply_task(message_id: int) -> None:
    from messaging import services

    services.send_reply(message_id)


# Below the replies: a username can wait, a customer should not.
@task(priority=-10)
def fetch_customer_profile_task(conversation_id: int) -> None:
    from messaging import services

    services.fetch_customer_profile(conversation_id)


def enqueue_send(message_id: int, run_after: datetime | None = None) -> None:
    """Queue the send of an outgoing message, as part of the caller's transaction.

    The queued Message row is the source of truth; the task only says "look at it now".
    """
    _enqueue(
        send_reply_task.using(run_after=run_after) if run_after else send_reply_task, message_id
    )


def enqueue_profile_fetch(conversation_id: int) -> None:
    _enqueue(fetch_customer_profile_task, conversation_id)


def _enqueue(task_to_run, *args) -> None:
    if isinstance(task_to_run.get_backend(), DatabaseBackend):
        # The task row is written in the caller's transaction: it commits, or rolls back,
        # together with the rows it is about. No window where one exists without the other.
        task_to_run.enqueue(*args)
    else:
        # A queue outside the database must not see the task before the rows exist. If the
        # process dies between commit and enqueue, the worker's sweep re-enqueues the reply.
        transaction.on_commit(lambda: task_to_run.enqueue(*args))
