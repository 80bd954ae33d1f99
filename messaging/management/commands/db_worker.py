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

from messaging import delivery_loop


class Command(db_worker.Command):
    help = "Run the task worker (sends replies), with the periodic upkeep beside it."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(interval=settings.WORKER_POLL_INTERVAL)

    def handle(self, *args, **options):
        reloader = options["reload"] and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true"
        if reloader and not options["batch"]:
            # With --reload this process only watches the code; its child does the work.
            super().handle(*args, **options)
            return
        with delivery_loop.beside_the_task_loop(one_pass=options["batch"]):
            super().handle(*args, **options)
