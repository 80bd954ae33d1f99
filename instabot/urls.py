from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from messaging import views as messaging_views

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("webhooks/", include("messaging.urls")),
    path("healthz", messaging_views.healthz, name="healthz"),
    path("api/", include("instabot.api_urls")),
]
