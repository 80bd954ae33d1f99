from django.contrib import admin

from accounts.models import InstagramBusinessAccount


@admin.register(InstagramBusinessAccount)
class InstagramBusinessAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "username", "instagram_id", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "username", "instagram_id"]
