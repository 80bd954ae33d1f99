"""Workers' signs of life."""

from datetime import datetime

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """A running worker's sign of life, written every WORKER_HEARTBEAT_INTERVAL by its
    heartbeat thread (upkeep.Heartbeat). One silent for WORKER_DEAD_AFTER is dead: any live
    worker takes its work back, then deletes its row; a worker that stops gracefully deletes
    its own. /healthz reports the newest."""

    worker = models.CharField(max_length=200, unique=True)  # worker_identity.this_worker()
    last_seen = models.DateTimeField()

    def __str__(self):
        return f"{self.worker} at {self.last_seen:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, worker: str) -> bool:
        """Record that `worker` is alive. False when it had no row: its first beat, or other
        workers took it for dead (and its work with it)."""
        now = timezone.now()
        if cls.objects.filter(worker=worker).update(last_seen=now):
            return True
        cls.objects.get_or_create(worker=worker, defaults={"last_seen": now})
        return False

    @classmethod
    def silent_since(cls, cutoff: datetime) -> list[str]:
        """The workers whose last beat is older than `cutoff`."""
        return list(cls.objects.filter(last_seen__lt=cutoff).values_list("worker", flat=True))

    @classmethod
    def forget(cls, worker: str, *, silent_since: datetime | None = None) -> None:
        """Delete `worker`'s heartbeat: it stopped, or (`silent_since`) it is dead and its
        work was taken back; a worker that beat again meanwhile keeps its row."""
        rows = cls.objects.filter(worker=worker)
        if silent_since is not None:
            rows = rows.filter(last_seen__lt=silent_since)
        rows.delete()
