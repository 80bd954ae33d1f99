"""How fast each account may send."""

from datetime import datetime, timedelta

from django.db import models, transaction
from django.utils import timezone


class SendThrottle(models.Model):
    """How fast one Instagram account may send: the Send API limits each account separately.

    Workers reserve send slots here under a row lock, so the rate holds across many workers.
    """

    instagram_account_id = models.CharField(max_length=64, unique=True)
    # The earliest moment the next message may go.
    next_send_at = models.DateTimeField(null=True, blank=True)
    # Meta answered "rate limited": nothing goes for this account until then.
    paused_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Throttle for {self.instagram_account_id}"

    @classmethod
    def reserve_slot(
        cls, instagram_account_id: str, per_second: float, max_wait: timedelta
    ) -> datetime:
        """When this account's next message may go, honouring its rate and any pause.

        A slot within `max_wait` is taken (the next one moves 1/rate later); a later one is
        only reported, for the caller to come back then. Row-locked: holds across workers.
        """
        now = timezone.now()
        with transaction.atomic():
            throttles = cls.objects.select_for_update()
            try:
                throttle = throttles.get(instagram_account_id=instagram_account_id)
            except cls.DoesNotExist:  # the account's first send
                cls.objects.get_or_create(instagram_account_id=instagram_account_id)
                throttle = throttles.get(instagram_account_id=instagram_account_id)
            slot = max(now, throttle.next_send_at or now, throttle.paused_until or now)
            if slot <= now + max_wait:
                throttle.next_send_at = slot + timedelta(seconds=1 / per_second)
                throttle.save(update_fields=["next_send_at"])
        return slot

    @classmethod
    def pause(cls, instagram_account_id: str, seconds: float) -> datetime:
        """Meta said "too fast" for this account: hold its sends, and only its, for a while."""
        until = timezone.now() + timedelta(seconds=seconds)
        cls.objects.update_or_create(
            instagram_account_id=instagram_account_id, defaults={"paused_until": until}
        )
        return until
