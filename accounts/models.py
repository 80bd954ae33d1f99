from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from accounts.encryption import EncryptedTextField, EncryptionKeyError
from instabot.text_limits import REPLY_MAX_LENGTH
from meta import messages, profile
from meta.messages import validate_payload_name

# The encrypted credentials, and what the service records about the token (never edited by hand).
CREDENTIAL_FIELDS = ("access_token", "app_secret", "verify_token")
# Meta's tokens and secrets are a few hundred characters; the API and the admin refuse more than
# this (a megabyte "token" would be encrypted, stored and sent with every Graph call).
CREDENTIAL_MAX_LENGTH = 4_096
# What ties an account to Meta: its ids route deliveries and sends to it, another app's secrets
# verify them. Changed only by staff who see every account (accounts.access): pointed elsewhere
# by staff limited to it, it would bring another account's conversations into theirs.
ROUTING_FIELDS = ("instagram_id", "page_id", "app_secret", "verify_token")
TOKEN_STATE_FIELDS = (
    "access_token_set_at",
    "access_token_expires_at",
    "token_invalid_since",
    "token_checked_at",
    "token_check_result",
)

# Meta's ids are decimal numbers in strings. ASCII digits only: "²" and "٣" are digits to
# Python, and no delivery would ever name such an account.
meta_id_validator = RegexValidator(
    r"\A[0-9]{1,64}\Z", "Digits 0-9 only (at most 64), as Meta writes the id."
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
        "Instagram id",
        max_length=64,
        unique=True,
        validators=[meta_id_validator],
        help_text="As Meta sends it in entry[].id: digits only.",
    )
    name = models.CharField(max_length=200)
    username = models.CharField(max_length=64, blank=True, help_text="Without the @.")
    page_id = models.CharField(
        "Facebook Page id",
        max_length=64,
        blank=True,
        validators=[meta_id_validator],
        help_text="For Facebook Login accounts: digits only.",
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

    # Set by "Connect an Instagram account" (accounts.connect). The app-scoped id of the
    # person who connected it (/me's id): Meta's deauthorize and data deletion callbacks name
    # that person, never the Instagram id.
    app_scoped_user_id = models.CharField(
        "connected by (app-scoped id)", max_length=64, blank=True, db_index=True, editable=False
    )
    connected_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The permissions Meta granted at the last connect (Instagram Login says so only then).
    granted_permissions = models.JSONField(default=list, blank=True, editable=False)

    is_active = models.BooleanField("active", default=True)
    fallback_reply = models.TextField(
        blank=True,
        max_length=REPLY_MAX_LENGTH,
        help_text="Sent when no rule matches. Empty: the service's DEFAULT_REPLY_TEXT.",
    )
    max_sends_per_second = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="At most this many messages a second for this account. It can only be lower "
        "than the service's SEND_RATE_PER_SECOND: a higher value is capped at it. "
        "Empty: SEND_RATE_PER_SECOND.",
    )
    send_typing = models.BooleanField(
        "show typing",
        default=False,
        help_text="Before a bot reply, mark the customer's message seen and show “typing…” "
        "(two more Send API calls per reply; skipped when the account's send rate is busy).",
    )
    human_agent_allowed = models.BooleanField(
        "HUMAN_AGENT tag approved",
        default=False,
        help_text="Meta approved this app's Human Agent permission: staff (never the bot) may "
        "answer up to 7 days after the customer's last message, not only 24 hours.",
    )
    # The ice breakers and menu as Meta had them when last read back (sync_messenger_profile).
    messenger_profile_at_meta = models.JSONField(null=True, blank=True, editable=False)
    messenger_profile_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    messenger_profile_problem = models.TextField(blank=True, editable=False)
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
        if "access_token" in self.unreadable_credentials():
            return "unreadable"
        return f"…{self.access_token[-4:]}" if self.access_token else ""

    @property
    def has_access_token(self) -> bool:
        """A token is stored, whether or not the key at hand opens it."""
        return "access_token" in self.unreadable_credentials() or bool(self.access_token)

    def unreadable_credentials(self) -> list[str]:
        """The names of the stored credentials no FIELD_ENCRYPTION_KEY key opens."""
        unreadable = []
        for name in CREDENTIAL_FIELDS:
            try:
                getattr(self, name)
            except EncryptionKeyError:
                unreadable.append(name)
        return unreadable

    def set_credentials(
        self,
        *,
        access_token: str = "",
        app_secret: str = "",
        verify_token: str = "",
        clear_app_secret_and_verify_token: bool = False,
    ) -> None:
        """What staff typed, in the admin or the API: a blank credential keeps the stored one.
        The other Meta app's secret and verify token are cleared only when asked."""
        if access_token:
            self.set_access_token(access_token)
        if app_secret:
            self.app_secret = app_secret
        if verify_token:
            self.verify_token = verify_token
        if clear_app_secret_and_verify_token:
            self.app_secret = self.verify_token = ""

    def set_access_token(self, token: str, expires_at: datetime | None = None) -> None:
        """A new token: it is valid until Meta says otherwise, and what was found out about
        the old one (a 190, a check's answer) is no longer shown."""
        self.access_token = token
        self.access_token_set_at = timezone.now() if token else None
        self.access_token_expires_at = expires_at
        self.token_invalid_since = None
        self.token_checked_at = None
        self.token_check_result = ""

    @property
    def needs_reconnect(self) -> bool:
        """Meta refused the token (190), it expired, or the person deauthorized the app."""
        expires = self.access_token_expires_at
        return self.token_is_invalid or (expires is not None and expires <= timezone.now())

    def mark_token_invalid(self, reason: str) -> bool:
        """Meta rejected the token (190): stop sending for this account until it is replaced.
        False, and nothing marked, when the token refused (this instance's) was replaced since
        it was read: the new one was not refused (this instance then holds it)."""
        now = timezone.now()
        refused = self.access_token_set_at
        InstagramBusinessAccount.objects.filter(
            pk=self.pk, token_invalid_since__isnull=True, access_token_set_at=refused
        ).update(token_invalid_since=now, token_checked_at=now, token_check_result=reason)
        self.refresh_from_db(fields=["access_token", *TOKEN_STATE_FIELDS])
        return self.access_token_set_at == refused

    def messenger_profile(self) -> profile.MessengerProfile:
        """The ice breakers and persistent menu staff set for this account."""
        ice_breakers: dict[str, list[profile.IceBreaker]] = {}
        for breaker in self.ice_breakers.all():
            ice_breakers.setdefault(breaker.locale, []).append(
                profile.IceBreaker(breaker.question, breaker.payload)
            )
        return profile.MessengerProfile(
            {locale: tuple(items) for locale, items in ice_breakers.items()},
            tuple(item.button() for item in self.menu_items.all()),
        )

    def messenger_profile_drift(self) -> bool | None:
        """Whether Meta's ice breakers and menu differ from ours (None: never read back)."""
        if self.messenger_profile_at_meta is None:
            return None
        return self.messenger_profile_at_meta != self.messenger_profile().as_json()

    def record_messenger_profile(self, at_meta: dict | None, problem: str = "") -> None:
        """What reading the profile back from Meta found (None: it could not be read)."""
        self.messenger_profile_checked_at = timezone.now()
        self.messenger_profile_problem = problem
        if at_meta is not None:
            self.messenger_profile_at_meta = at_meta
        InstagramBusinessAccount.objects.filter(pk=self.pk).update(
            messenger_profile_at_meta=self.messenger_profile_at_meta,
            messenger_profile_checked_at=self.messenger_profile_checked_at,
            messenger_profile_problem=problem,
        )


class IceBreaker(models.Model):
    """A question a customer can tap when they open a conversation for the first time; its
    payload comes back as a postback (a rule with that payload answers)."""

    account = models.ForeignKey(
        InstagramBusinessAccount, on_delete=models.CASCADE, related_name="ice_breakers"
    )
    locale = models.CharField(
        max_length=16,
        default="default",
        validators=[RegexValidator(r"\A(default|[a-z]{2}_[A-Z]{2})\Z", "default, or like en_US.")],
        help_text="default (required), or a locale such as en_US.",
    )
    question = models.CharField(max_length=messages.ICE_BREAKER_QUESTION_MAX)
    payload = models.CharField(max_length=100, validators=[validate_payload_name])
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["locale", "position", "id"]

    def __str__(self):
        return self.question


class MenuItem(models.Model):
    """An item of the account's persistent menu: a payload (a rule answers) or a link."""

    account = models.ForeignKey(
        InstagramBusinessAccount, on_delete=models.CASCADE, related_name="menu_items"
    )
    title = models.CharField(max_length=messages.BUTTON_TITLE_MAX)
    payload = models.CharField(max_length=100, blank=True, validators=[validate_payload_name])
    url = models.URLField(max_length=messages.URL_MAX, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.title

    def button(self) -> messages.Button:
        return messages.Button(self.title, self.payload, self.url)

    def clean(self):
        if problems := self.button().problems():
            raise ValidationError(problems)


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
