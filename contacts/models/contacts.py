"""Who the customers are: a contact per conversation (an account and a customer), their tags
and the custom fields staff define per account."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from contacts.values import TAG_MAX_LENGTH, VALUE_MAX_LENGTH, clean_value, split_choices

NOTES_MAX_LENGTH = 5_000


class Contact(models.Model):
    """A customer of one account, as staff know them.

    One-to-one with messaging.Conversation, whose key it shares: the conversation already is
    "one account and one customer" (unique, locked while a message is handled, scoped per
    account), so the contact adds what we learn of the customer without a second identity
    that could drift from it, and the inbox, the admin and flows reach it by the same id.
    """

    class Source(models.TextChoices):
        COMMENT = "comment", "A comment (private reply)"
        AD = "ad", "An ad"
        LINK = "link", "A link (ig.me ref)"
        STORY = "story", "A story (mention or reply)"
        DM = "dm", "A direct message"

    conversation = models.OneToOneField(
        "messaging.Conversation",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="contact",
    )
    # The Instagram username is the conversation's (customer_username); the name is Meta's.
    name = models.CharField(max_length=255, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=8, choices=Source, default=Source.DM)
    # The link's ref, the ad's id, the comment's id: what exactly they came from.
    source_ref = models.CharField(max_length=255, blank=True)
    notes = models.TextField(max_length=NOTES_MAX_LENGTH, blank=True)
    # Set: the contact said STOP (or staff marked it); broadcasts never reach them.
    opted_out_at = models.DateTimeField("opted out", null=True, blank=True)
    tags = models.ManyToManyField("contacts.Tag", through="contacts.ContactTag", blank=True)

    # Flow state. Set: the customer's next message answers this ask action.
    asking = models.ForeignKey(
        "contacts.RuleAction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ask_retries = models.PositiveSmallIntegerField(default=0)
    asked_at = models.DateTimeField(null=True, blank=True)
    # Set: an A/B variant was sent last; the next message says what followed it.
    variant_sent = models.ForeignKey(
        "contacts.VariantSent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        indexes = [
            models.Index(fields=["last_seen_at"]),
            models.Index(fields=["source", "last_seen_at"]),
        ]

    def __str__(self):
        return str(self.conversation) if self.conversation_id else "new contact"

    @property
    def account_id(self):
        return self.conversation.account_id

    @property
    def username(self) -> str:
        return self.conversation.customer_username

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None


class Tag(models.Model):
    """A label staff or flows put on contacts of one account (empty: the environment's)."""

    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    name = models.CharField(max_length=TAG_MAX_LENGTH)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="one_tag_per_name"),
        ]

    def __str__(self):
        return self.name


class ContactTag(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "tag"], name="tagged_once"),
        ]

    def __str__(self):
        return f"{self.tag_id} on {self.contact_id}"


_KEY = RegexValidator(
    r"\A[a-z][a-z0-9_]{0,39}\Z",
    "Lower-case letters, digits and _, starting with a letter (say favourite_size).",
)


class ContactField(models.Model):
    """A custom field staff define for an account's contacts (empty account: every account)."""

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        DATE = "date", "Date"
        CHOICE = "choice", "Choice"

    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: a field of every account's contacts.",
    )
    key = models.CharField(
        max_length=40,
        validators=[_KEY],
        help_text="Its name in the API, CSV files and filters (say city).",
    )
    label = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=Kind, default=Kind.TEXT)
    choices = models.TextField(
        max_length=2_000, blank=True, help_text="Choice fields: the choices, one a line."
    )

    class Meta:
        ordering = ["label", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="one_field_per_key"),
        ]

    def __str__(self):
        return self.label

    def choice_list(self) -> list[str]:
        return split_choices(self.choices)

    def clean(self):
        if self.kind == self.Kind.CHOICE and not self.choice_list():
            raise ValidationError({"choices": "A choice field needs its choices."})
        # One meaning per key for an account's contacts: its own fields and the shared ones.
        same_key = ContactField.objects.filter(key=self.key).exclude(pk=self.pk)
        if self.account_id is not None:
            same_key = same_key.filter(
                models.Q(account__isnull=True) | models.Q(account_id=self.account_id)
            )
        if same_key.exists():
            raise ValidationError({"key": "A field with this key exists for these contacts."})

    def clean_value(self, text: str) -> str:
        """`text` as this field stores it, or ValidationError."""
        return clean_value(self.kind, text, self.choice_list())


class FieldValue(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="values")
    field = models.ForeignKey(ContactField, on_delete=models.CASCADE, related_name="values")
    value = models.CharField(max_length=VALUE_MAX_LENGTH)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "field"], name="one_value_per_field"),
        ]

    def __str__(self):
        return f"{self.field.key}={self.value[:40]}"
