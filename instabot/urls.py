from django.contrib import admin
from django.http import HttpResponse, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path, register_converter
from django.views.generic import TemplateView

from instabot.numbers import IdConverter
from ops.healthz import healthz

# <id:pk> in every app's URLs: 1 to 18 ASCII digits (a 20-digit id would overflow: a 500).
register_converter(IdConverter, "id")


def ping(request):
    """Liveness: the process answers (no database). Also `manage.py bench`'s trivial view, the
    framework's own ceiling that the webhook is measured against."""
    return HttpResponse("pong", content_type="text/plain")


def favicon(request):
    """Browsers ask every site for /favicon.ico: ours is a static file (a 404 would log a
    warning for every page staff open)."""
    return HttpResponsePermanentRedirect(static("messaging/favicon.ico"))


urlpatterns = [
    path("ping", ping, name="ping"),
    path("favicon.ico", favicon),
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("webhooks/", include("messaging.urls")),
    path("healthz", healthz, name="healthz"),
    path("api/", include("instabot.api_urls")),
    path("inbox/", include("inbox.urls")),
    path("accounts/", include("accounts.urls")),
    path("", include("privacy.urls")),
]
