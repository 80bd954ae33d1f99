"""Background work, through the Tasks framework: the backend is a setting (TASKS)."""

import logging
from datetime import datetime

import django_rq
from django.db import transaction
from django_tasks import task
from django_tasks_db import DatabaseBackend
from django_tasks_rq import RQBackend
from redis import RedisError

logger = logging.getLogger(__name__)

# Services enqueue these tasks, so the tasks import services inside their bodies.


@task()
def process_delivery_task(delivery_id: int) -> None:
    """Kept for tasks an earlier version queued (one per delivery) that are still waiting at
    the upgrade: deliveries are no longer tasks (the workers take them from their table), and
    a delivery the loop handled already finds nothing to claim here."""
    from messaging import services

    services.process_received_delivery(delivery_id)


@task()
def send_reply_task(message_id: int) -> None:
    from messaging import services

    services.send_reply(message_id)


@task()
def fetch_customer_profile_task(conversation_id: int) -> None:
    """Kept for tasks an earlier version queued, one per new conversation, that are still
    waiting at the upgrade: workers now fetch usernames when no delivery waits."""
    from messaging import services

    services.fetch_customer_profile(conversation_id)


def enqueue_send(message_id: int, run_after: datetime | None = None) -> None:
    """Queue the send of an outgoing message, as part of the caller's transaction.

    The queued Message row is the source of truth; the task only says "look at it now".
    """
    _enqueue(
        send_reply_task.using(run_after=run_after) if run_after else send_reply_task, message_id
    )


def _enqueue(task_to_run, *args) -> None:
    if isinstance(task_to_run.get_backend(), DatabaseBackend):
        # The task row is written in the caller's transaction: it commits, or rolls back,
        # together with the rows it is about. No window where one exists without the other.
        task_to_run.enqueue(*args)
    else:
        # A queue outside the database must not see the task before the rows exist.
        transaction.on_commit(lambda: _enqueue_committed(task_to_run, args))


def _enqueue_committed(task_to_run, args: tuple) -> None:
    try:
        task_to_run.enqueue(*args)
    except Exception:
        # The rows are committed: what wrote them (a webhook delivery, a send) succeeded and must
        # not fail now. The worker's sweep finds the reply after REPLY_STALLED_AFTER and queues
        # it again; the same happens if the process dies between the commit and this call.
        logger.exception(
            "Could not queue %s%r (is the queue reachable?); the sweep will queue it again",
            task_to_run.name,
            args,
        )


def queue_problem() -> str | None:
    """For /healthz: why the task queue cannot take tasks now, or None.

    The database queue is the database, which /healthz checks anyway.
    """
    if not isinstance(send_reply_task.get_backend(), RQBackend):
        return None
    try:
        django_rq.get_connection("default").ping()
    except RedisError as exc:
        logger.error("Health check: the Redis queue is unreachable: %s", exc)
        return f"task queue unreachable ({type(exc).__name__})"
    return None
