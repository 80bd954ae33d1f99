"""`manage.py worker`: instabot's worker process."""

import logging
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections
from django_rq.management.commands import rqworker
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks_db.management.commands import db_worker
from django_tasks_rq import RQBackend

from ops import worker

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run instabot's worker. In one process: the pass loop (each pass takes the webhook "
        "deliveries waiting in the database, stores their events and sends the replies, "
        "sends the due replies to comments and mentions, runs the upkeep that is due: sweeps "
        "of stalled work, token refresh, reconciliation; and when idle fetches usernames and "
        "posts), the task loop of the queue backend that TASKS_BACKEND names (django-tasks' "
        "database worker, or RQ's worker with its scheduler for Redis: retries, staff "
        "replies, later parts of split replies), and the heartbeat. Run as many as you like, "
        "on one machine or many."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            action="store_true",
            help="run passes (deliveries, due sends, all the upkeep, the fetches) until nothing "
            "is left, then every task due, then exit",
        )

    def handle(self, *, once, verbosity, **options):
        # The queues' own commands, run by class: django_rq is an installed app only while
        # TASKS_BACKEND names Redis at start-up.
        with worker.beside_the_task_loop(one_pass=once):
            if isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], RQBackend):
                # RQ's scheduler moves a retry deferred to later (run_after) into the queue.
                call_command(
                    rqworker.Command(), burst=once, with_scheduler=True, verbosity=verbosity
                )
            else:
                self.run_database_task_loop(once=once, verbosity=verbosity)

    def run_database_task_loop(self, *, once: bool, verbosity: int) -> None:
        """django-tasks' database worker, started again when the database fails it (a restart,
        say): it gives up on any database error but a locked SQLite, and the worker must not
        end with it. A send cut short is swept back to work from its Message row
        (recovery.sweep_stalled_replies), as after a killed worker."""
        while True:
            try:
                call_command(
                    db_worker.Command(),
                    batch=once,
                    reload=False,
                    startup_delay=False,
                    interval=settings.WORKER_TASK_POLL_INTERVAL,
                    verbosity=verbosity,
                )
                return
            except DatabaseError:
                if once:
                    raise
                logger.exception(
                    "The task loop lost the database; starting it again in %.0f s",
                    worker.PAUSE_AFTER_FAILURE,
                )
                # A connection broken mid-transaction is closed, not reused.
                close_old_connections()
                time.sleep(worker.PAUSE_AFTER_FAILURE)
