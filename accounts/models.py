from django.db import models


class InstagramBusinessAccount(models.Model):
    """An Instagram professional account this service answers for.

    Deliveries name it by `instagram_id` (their entry[].id). An account need not be stored for
    its DMs to be answered: the environment's single-account settings serve unknown ids.
    """

    instagram_id = models.CharField(
        "Instagram id", max_length=64, unique=True, help_text="As Meta sends it in entry[].id."
    )
    name = models.CharField(max_length=200)
    username = models.CharField(max_length=64, blank=True, help_text="Without the @.")
    is_active = models.BooleanField(default=True)
    fallback_reply = models.TextField(
        blank=True,
        help_text="Sent when no rule matches. Empty: the service's DEFAULT_REPLY_TEXT.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "Instagram business account"

    def __str__(self):
        return f"{self.name} (@{self.username})" if self.username else self.name
