"""manage.py roll_up_stats: store the dashboard's daily figures of every settled day not
rolled up yet (a backfill after an upgrade, or a restore), and of yesterday and today; with
--again N, recompute the last N settled days too. The worker does the same in its upkeep."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from inbox import rollups


class Command(BaseCommand):
    help = "Roll up the dashboard's figures of settled days (inbox.rollups)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--again",
            type=int,
            default=0,
            metavar="N",
            help="also recompute the last N settled days (after a retry of old failed sends)",
        )

    def handle(self, *args, again: int, **options):
        last = timezone.now().date() - timedelta(days=rollups.SETTLED_AFTER_DAYS + 1)
        days = set(rollups.due_days())
        days |= {last - timedelta(days=n) for n in range(max(0, again))}
        for day in sorted(days):
            accounts = rollups.roll_up(day)
            self.stdout.write(f"{day}: {accounts} account(s)")
        rollups.roll_up_recent_days()
        self.stdout.write(f"Rolled up {len(days)} settled day(s), and yesterday and today.")
