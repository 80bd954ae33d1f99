import secrets

from django.db import models


def new_confirmation_code() -> str:
    return secrets.token_hex(10)


class DataDeletionRequest(models.Model):
    """Meta's data deletion callback for a person who connected accounts: answered at once
    with a confirmation code; a worker erases what we hold for their accounts."""

    class Login(models.TextChoices):
        INSTAGRAM = "instagram_login", "Instagram Login"
        FACEBOOK = "facebook_login", "Facebook Login"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Erased"

    confirmation_code = models.CharField(
        max_length=32, unique=True, default=new_confirmation_code, editable=False
    )
    login = models.CharField(max_length=16, choices=Login)
    # The app-scoped id of the person who connected (the signed_request's user_id).
    app_scoped_user_id = models.CharField(max_length=64)
    issued_at = models.BigIntegerField()
    requested_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=8, choices=State, default=State.PENDING)
    completed_at = models.DateTimeField(null=True, blank=True)
    # What was erased: counts by kind, never the data itself.
    erased = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            # Meta redelivers: the same request is one row, one confirmation code.
            models.UniqueConstraint(
                fields=["login", "app_scoped_user_id", "issued_at"], name="one_deletion_per_request"
            )
        ]
        permissions = [("erase_customer", "Can export and erase a customer's data")]

    def __str__(self):
        return f"Data deletion {self.confirmation_code} ({self.state})"
