"""WSGI entry point (gunicorn instabot.wsgi; runserver through WSGI_APPLICATION)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instabot.settings")

application = get_wsgi_application()
