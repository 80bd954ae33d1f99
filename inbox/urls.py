from django.urls import path

from inbox import stats_views, views

app_name = "inbox"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("updates", views.updates, name="updates"),
    path("c/<id:pk>", views.conversation, name="conversation"),
    path("c/<id:pk>/read", views.mark_read, name="read"),
    path("c/<id:pk>/reply", views.reply, name="reply"),
    path("c/<id:pk>/<str:name>", views.command, name="command"),
    path("stats/", stats_views.dashboard, name="stats"),
    path("stats.csv", stats_views.stats_csv, name="stats-csv"),
]
