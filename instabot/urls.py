from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django.views.generic import TemplateView

from ops.healthz import healthz


def ping(request):
    """Liveness: the process answers (no database). Also `manage.py bench`'s trivial view, the
    framework's own ceiling that the webhook is measured against."""
    return HttpResponse("pong", content_type="text/plain")


urlpatterns = [
    path("ping", ping, name="ping"),
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("webhooks/", include("messaging.urls")),
    path("healthz", healthz, name="healthz"),
    path("api/", include("instabot.api_urls")),
    path("inbox/", include("inbox.urls")),
    path("accounts/", include("accounts.urls")),
    path("", include("privacy.urls")),
]
