"""The RQ worker class for the Redis queue backend (settings.RQ["WORKER_CLASS"])."""

from django.db import close_old_connections
from rq.worker import SimpleWorker


class DjangoWorker(SimpleWorker):
    """Runs each task in the worker process itself, like the database queue's worker, instead
    of RQ's default fork per task: no fork cost on a reply's path, and the pass loop and
    heartbeat threads beside the task loop stay safe (fork() copies only the forking thread,
    with whatever locks others held).

    Outside a request cycle nothing closes a database connection that died (a database
    restart) or outlived CONN_MAX_AGE: do it around every task, as Django does per request.
    """

    def execute_job(self, job, queue):
        close_old_connections()
        try:
            super().execute_job(job, queue)
        finally:
            close_old_connections()
