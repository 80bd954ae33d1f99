"""`manage.py db_worker`: django-tasks-db's worker, plus instabot's sweep of stalled replies.

This command shadows django_tasks_db's own (messaging comes first in INSTALLED_APPS) and
takes all of its options. A worker that is killed leaves its task "running" forever and its
reply "sending"; the sweep is what puts such replies back to work (services.sweep_stalled_replies).
"""

import logging
import os
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from messaging.services import sweep_stalled_replies

logger = logging.getLogger(__name__)


class Command(db_worker.Command):
    help = "Run the task worker (sends replies), sweeping stalled replies periodically."

    def handle(self, *args, **options):
        if options["batch"]:
            # One pass over the queue: sweep once first, so recovered replies are in it.
            _sweep_once()
        elif not options["reload"] or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
            # With --reload, only the child process that runs tasks sweeps.
            threading.Thread(target=_sweep_forever, name="reply-sweeper", daemon=True).start()
        super().handle(*args, **options)


def _sweep_forever() -> None:
    while True:
        _sweep_once()
        # This thread lives outside any request cycle: don't keep a connection that may go
        # stale (a database restart) between sweeps.
        connection.close()
        time.sleep(settings.REPLY_SWEEP_INTERVAL)


def _sweep_once() -> None:
    try:
        sweep_stalled_replies()
    except Exception:
        # A failed sweep (the database restarting, say) is tried again at the next interval.
        logger.exception("Sweeping stalled replies failed")
