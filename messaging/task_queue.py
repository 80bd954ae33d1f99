"""Putting a task on the queue, whichever backend the TASKS setting names.

The database backend (the default) writes the task row in the caller's transaction; a queue
outside the database (Redis) is only told once the caller's rows are committed.
"""

import logging

import django_rq
from django.db import transaction
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks_db import DatabaseBackend
from django_tasks_rq import RQBackend
from redis import RedisError

logger = logging.getLogger(__name__)


def enqueue(task_to_run, *args) -> None:
    """Queue `task_to_run(*args)` as part of the caller's transaction."""
    if isinstance(task_to_run.get_backend(), DatabaseBackend):
        # The task row commits, or rolls back, together with the rows it is about: no window
        # where one exists without the other.
        task_to_run.enqueue(*args)
    else:
        # A queue outside the database must not see the task before the rows exist.
        transaction.on_commit(lambda: _enqueue_committed(task_to_run, args))


def _enqueue_committed(task_to_run, args: tuple) -> None:
    try:
        task_to_run.enqueue(*args)
    except Exception:
        # The rows are committed: what wrote them succeeded and must not fail now. The
        # worker's sweep finds the reply after REPLY_STALLED_AFTER and queues it again; the
        # same happens if the process dies between the commit and this call.
        logger.exception(
            "Could not queue %s%r (is the queue reachable?); the sweep will queue it again",
            task_to_run.name,
            args,
        )


def queue_problem() -> str | None:
    """For /healthz: why the task queue cannot take tasks now, or None.

    The database queue is the database, which /healthz checks anyway.
    """
    if not isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], RQBackend):
        return None
    try:
        django_rq.get_connection("default").ping()
    except RedisError as exc:
        logger.error("Health check: the Redis queue is unreachable: %s", exc)
        return f"task queue unreachable ({type(exc).__name__})"
    return None
