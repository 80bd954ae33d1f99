"""`manage.py rqworker`: django-rq's worker for the Redis queue backend, plus instabot's own.

This command shadows django_rq's own (messaging comes first in INSTALLED_APPS) and takes all of
its options. Two differences: RQ's scheduler always runs, because a reply's retry is a task
deferred to a later time (run_after), which only the scheduler moves into the queue; and the
delivery loop (messaging/delivery_loop.py) and the upkeep (messaging/upkeep.py) run in
threads beside the task loop, as in db_worker.
"""

from django_rq.management.commands import rqworker

from messaging import delivery_loop


class Command(rqworker.Command):
    help = "Run the Redis queue's worker (sends replies), with the periodic upkeep beside it."

    def handle(self, *args, **options):
        options["with_scheduler"] = True
        with delivery_loop.beside_the_task_loop(one_pass=options["burst"]):
            super().handle(*args, **options)
