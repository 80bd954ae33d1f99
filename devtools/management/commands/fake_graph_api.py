"""`manage.py fake_graph_api`: serve the fake Send API where GRAPH_API_BASE_URL points."""

import argparse
import math
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devtools.fake_graph import FakeGraphAPI
from devtools.simulation import DEMO_ACCOUNT_ID

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Command(BaseCommand):
    help = (
        "Serve a fake Instagram Send API on 127.0.0.1 at GRAPH_API_BASE_URL, for local runs "
        "without a Meta app. Does nothing when GRAPH_API_BASE_URL is not on this machine."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--echo-to",
            default="",
            metavar="WEBHOOK_URL",
            help="post Meta's echo of every sent message to this webhook, signed",
        )
        parser.add_argument("--account", default=DEMO_ACCOUNT_ID, help="account id for echoes")
        parser.add_argument(
            "--drop-webhooks",
            type=share,
            default=0.0,
            metavar="SHARE",
            help="drop this share (0 to 1) of the webhooks it would post, as Meta sometimes "
            "does; reconciliation finds them through the Conversations API",
        )

    def handle(self, *, echo_to, account, drop_webhooks, **options):
        url = urlsplit(settings.GRAPH_API_BASE_URL)
        if url.hostname not in LOOPBACK_HOSTS or not url.port:
            self.stdout.write(
                f"GRAPH_API_BASE_URL is {settings.GRAPH_API_BASE_URL}, not a port on this "
                "machine: no fake Graph API needed."
            )
            return
        try:
            fake = FakeGraphAPI(
                url.hostname,
                url.port,
                echo_webhook_url=echo_to,
                app_secret=settings.FACEBOOK_APP_SECRET,
                account_id=account,
                drop_webhooks=drop_webhooks,
            )
        except OSError as exc:
            # Most often the port is taken: another bin/dev, or a fake left running.
            raise CommandError(
                f"Cannot listen on {url.hostname}:{url.port} ({exc.strerror or exc}). Is another "
                "fake Graph API (or bin/dev) running? Stop it, or choose another port: "
                "FAKE_GRAPH_PORT=8766 bin/dev (it sets GRAPH_API_BASE_URL)."
            ) from None
        self.stdout.write(f"Fake Graph API listening on {fake.base_url}")
        try:
            fake.serve_forever()
        except KeyboardInterrupt:
            pass


def share(value: str) -> float:
    """--drop-webhooks: a share from 0 to 1 (not 5, -1 or nan)."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number <= 1:  # false for nan too
        raise argparse.ArgumentTypeError(
            f"must be a share from 0 to 1, such as 0.2 (got {value!r})"
        )
    return number
