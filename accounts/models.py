from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.encryption import EncryptedTextField

# The encrypted credentials, and what the service records about the token (never edited by hand).
CREDENTIAL_FIELDS = ("access_token", "app_secret", "verify_token")
TOKEN_STATE_FIELDS = (
    "access_token_set_at",
    "access_token_expires_at",
    "token_invalid_since",
    "token_checked_at",
    "token_check_result",
)


class InstagramBusinessAccount(models.Model):
    """An Instagram professional account this service answers for.

    Deliveries name it by `instagram_id` (their entry[].id). Its credentials are encrypted at
    rest. Unknown ids are served by the environment's single-account settings when those are
    set (INSTAGRAM_PAGE_ACCESS_TOKEN), so a deployment can move to stored accounts gradually.
    """

    class Api(models.TextChoices):
        FACEBOOK_LOGIN = "facebook_login", "Instagram API with Facebook Login (Page access token)"
        INSTAGRAM_LOGIN = "instagram_login", "Instagram API with Instagram Login (Instagram token)"

    instagram_id = models.CharField(
        "Instagram id", max_length=64, unique=True, help_text="As Meta sends it in entry[].id."
    )
    name = models.CharField(max_length=200)
    username = models.CharField(max_length=64, blank=True, help_text="Without the @.")
    page_id = models.CharField(
        "Facebook Page id", max_length=64, blank=True, help_text="For Facebook Login accounts."
    )
    api = models.CharField("API", max_length=16, choices=Api, default=Api.FACEBOOK_LOGIN)

    access_token = EncryptedTextField(blank=True)
    access_token_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Instagram Login tokens live 60 days; the worker refreshes them (accounts.services).
    access_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set when the Graph API answers 190: sending stops until the token is replaced.
    token_invalid_since = models.DateTimeField(null=True, blank=True, editable=False)
    token_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    token_check_result = models.TextField(blank=True, editable=False)
    # For an account of another Meta app: its secret signs its deliveries, its verify token
    # answers its webhook handshake. Empty: FACEBOOK_APP_SECRET, INSTAGRAM_VERIFY_TOKEN.
    app_secret = EncryptedTextField(blank=True)
    verify_token = EncryptedTextField(blank=True)

    is_active = models.BooleanField("active", default=True)
    fallback_reply = models.TextField(
        blank=True,
        help_text="Sent when no rule matches. Empty: the service's DEFAULT_REPLY_TEXT.",
    )
    max_sends_per_second = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this many messages a second for this account. "
        "Empty: SEND_RATE_PER_SECOND.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "Instagram business account"

    def __str__(self):
        return f"{self.name} (@{self.username})" if self.username else self.name

    @property
    def graph_api_base_url(self) -> str:
        if self.api == self.Api.INSTAGRAM_LOGIN:
            return settings.INSTAGRAM_GRAPH_API_BASE_URL
        return settings.GRAPH_API_BASE_URL

    @property
    def token_is_invalid(self) -> bool:
        return self.token_invalid_since is not None

    @property
    def access_token_hint(self) -> str:
        """Enough to tell tokens apart, never enough to use one."""
        return f"…{self.access_token[-4:]}" if self.access_token else ""

    def set_access_token(self, token: str, expires_at: datetime | None = None) -> None:
        """A new token: it is valid until Meta says otherwise."""
        self.access_token = token
        self.access_token_set_at = timezone.now() if token else None
        self.access_token_expires_at = expires_at
        self.token_invalid_since = None

    def mark_token_invalid(self, reason: str) -> None:
        """Meta rejected the token (190): stop sending for this account until it is replaced."""
        now = timezone.now()
        InstagramBusinessAccount.objects.filter(
            pk=self.pk, token_invalid_since__isnull=True
        ).update(token_invalid_since=now, token_checked_at=now, token_check_result=reason)
        self.refresh_from_db(
            fields=["token_invalid_since", "token_checked_at", "token_check_result"]
        )


class AccountAccess(models.Model):
    """One account a staff user may work on.

    Staff see and change the data of the accounts they are granted, and only those
    (accounts.access). Superusers, and users with the "see_all_accounts" permission (given
    like any other, to a user or a group), see every account, including conversations of the
    environment's single account and the rules and saved replies shared by all accounts.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_grants"
    )
    account = models.ForeignKey(
        InstagramBusinessAccount, on_delete=models.CASCADE, related_name="grants"
    )

    class Meta:
        verbose_name = "account access"
        verbose_name_plural = "account access"
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="one_grant_per_account")
        ]
        permissions = [("see_all_accounts", "Can see and change every account's data")]

    def __str__(self):
        return f"{self.user} → {self.account}"
