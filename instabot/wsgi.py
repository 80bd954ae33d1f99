"""WSGI entry point (gunicorn instabot.wsgi; runserver through WSGI_APPLICATION)."""

import os

from instabot.handlers import get_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instabot.settings")

# Django's handler, with the webhook's URLs through a lighter middleware stack (handlers.py).
application = get_application()
