"""`manage.py fake_graph_api`: serve the fake Send API where GRAPH_API_BASE_URL points."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

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
            type=float,
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
        fake = FakeGraphAPI(
            url.hostname,
            url.port,
            echo_webhook_url=echo_to,
            app_secret=settings.FACEBOOK_APP_SECRET,
            account_id=account,
            drop_webhooks=drop_webhooks,
        )
        self.stdout.write(f"Fake Graph API listening on {fake.base_url}")
        try:
            fake.serve_forever()
        except KeyboardInterrupt:
            pass
