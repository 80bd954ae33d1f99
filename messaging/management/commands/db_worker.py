"""`manage.py db_worker`: django-tasks-db's worker, plus instabot's upkeep (messaging/upkeep.py).

This command shadows django_tasks_db's own (messaging comes first in INSTALLED_APPS) and
takes all of its options. A worker that is killed leaves its task "running" forever and its
reply "sending"; the upkeep's sweep is what puts such replies back to work.
"""

import os

from django.conf import settings
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from messaging import upkeep


class Command(db_worker.Command):
    help = "Run the task worker (sends replies), with the periodic upkeep beside it."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(interval=settings.WORKER_POLL_INTERVAL)

    def handle(self, *args, **options):
        if options["batch"]:
            upkeep.run_once()
        elif not options["reload"] or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
            # With --reload, only the child process that runs tasks keeps up.
            upkeep.lower_cpu_priority()
            upkeep.start_in_background()
        super().handle(*args, **options)
