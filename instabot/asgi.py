"""ASGI entry point. instabot is deployed with gunicorn on instabot.wsgi; this serves the same
URLs through the same middleware, for an ASGI server if you prefer one."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instabot.settings")

application = get_asgi_application()
