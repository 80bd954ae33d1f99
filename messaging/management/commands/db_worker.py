"""`manage.py db_worker`: django-tasks-db's worker, plus instabot's delivery loop
(messaging/delivery_loop.py) and upkeep (messaging/upkeep.py), each in a thread beside it.

This command shadows django_tasks_db's own (messaging comes first in INSTALLED_APPS) and
takes all of its options. A worker that is killed leaves its task "running" forever and its
reply "sending"; the upkeep's sweep is what puts such replies back to work.
"""

import os

from django.conf import settings
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from messaging import delivery_loop, upkeep


class Command(db_worker.Command):
    help = "Run the task worker (sends replies), with the periodic upkeep beside it."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(interval=settings.WORKER_POLL_INTERVAL)

    def handle(self, *args, **options):
        if options["batch"]:
            upkeep.run_once()
            delivery_loop.handle_all_waiting()
            super().handle(*args, **options)
        elif not options["reload"] or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
            # With --reload, only the child process that runs tasks does the work.
            upkeep.lower_cpu_priority()
            upkeep.start_in_background()
            with delivery_loop.delivery_loop_beside_tasks():
                super().handle(*args, **options)
        else:
            super().handle(*args, **options)
