"""`manage.py fake_ai_service`: serve the fake OpenAI-compatible chat service at AI_BASE_URL."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from devtools.fake_ai import FakeAIService
from devtools.management.commands.fake_graph_api import LOOPBACK_HOSTS


class Command(BaseCommand):
    help = (
        "Serve a fake OpenAI-compatible chat service on 127.0.0.1 at AI_BASE_URL, answering "
        "from the knowledge entries it is given. Does nothing when AI_BASE_URL is empty or not "
        "on this machine."
    )

    def handle(self, **options):
        url = urlsplit(settings.AI_BASE_URL)
        if url.hostname not in LOOPBACK_HOSTS or not url.port:
            self.stdout.write(
                f"AI_BASE_URL is {settings.AI_BASE_URL or 'empty'}, not a port on this machine: "
                "no fake AI service needed."
            )
            return
        fake = FakeAIService(url.hostname, url.port)
        self.stdout.write(f"Fake AI service listening on {fake.base_url}")
        try:
            fake.serve_forever()
        except KeyboardInterrupt:
            pass
