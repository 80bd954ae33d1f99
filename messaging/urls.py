from django.urls import re_path

from messaging import views

urlpatterns = [
    # With or without the trailing slash, and never a redirect: Meta does not follow them.
    re_path(r"^instagram/?$", views.instagram_webhook, name="instagram-webhook"),
    # One URL per account, for accounts of other Meta apps (their own secret and verify token).
    re_path(
        r"^instagram/(?P<instagram_account_id>[0-9]{1,64})/?$",
        views.instagram_webhook,
        name="instagram-account-webhook",
    ),
]
