"""ASGI entry point. Not how instabot is deployed (gunicorn serves instabot.wsgi): here every
URL, the webhook's too, goes through the whole MIDDLEWARE stack, which is correct, only slower
for the webhook (instabot/handlers.py)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instabot.settings")

application = get_asgi_application()
