from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("meta/deauthorize", views.deauthorize, name="deauthorize"),
    path("meta/data-deletion", views.data_deletion, name="data-deletion"),
    path("meta/data-deletion/<str:code>", views.deletion_status, name="deletion-status"),
    path("privacy/customers/<int:pk>/", views.customer, name="customer"),
    path("privacy/customers/<int:pk>/export", views.customer_export, name="customer-export"),
    path("privacy/customers/<int:pk>/erase", views.customer_erase, name="customer-erase"),
]
