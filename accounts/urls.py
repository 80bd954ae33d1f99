from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("connect/", views.choose_login, name="connect"),
    path("connect/pages", views.choose_pages, name="connect-pages"),
    path("connect/<str:login>/", views.start, name="connect-start"),
    path("connect/<str:login>/callback", views.callback, name="connect-callback"),
]
