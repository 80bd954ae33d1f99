from django.urls import re_path

from messaging import views

urlpatterns = [
    # With or without the trailing slash, and never a redirect: Meta does not follow them.
    re_path(r"^instagram/?$", views.instagram_webhook, name="instagram-webhook"),
]
