from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts.access import ScopedAdminMixin
from instabot.admin_forms import ASCII_NUMBERS
from instabot.admin_lookups import id_or_none
from instabot.text_limits import REPLY_MAX_LENGTH
from messaging import replies, sending, windows
from messaging.models import Conversation, Message, WebhookDelivery

# How many messages the inbox shows of one conversation (the newest).
THREAD_LENGTH = 200

# The conversations list's "bot" column: why the bot is silent, in a word.
BOT_STATE_LABELS = {
    None: "on",
    Conversation.BotSilence.PAUSED: "paused",
    Conversation.BotSilence.TAKEN_OVER: "taken over",
}


class ReadOnlyAdmin(admin.ModelAdmin):
    """What Instagram told us is a record, not something to edit by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ScopedAdminMixin, ReadOnlyAdmin):
    account_path = None  # raw deliveries mix accounts: for all-accounts staff only
    list_display = ["id", "received_at", "state", "processed_at"]
    list_filter = ["state"]
    date_hierarchy = "received_at"
    fields = ["received_at", "state", "claimed_by", "processed_at", "error", "headers", "body_text"]
    readonly_fields = fields

    @admin.display(description="body")
    def body_text(self, delivery):
        return bytes(delivery.body).decode(errors="replace")


class ReplyForm(forms.Form):
    text = forms.CharField(
        label="Reply",
        strip=True,
        max_length=REPLY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write a reply…"}),
    )


@admin.register(Conversation)
class ConversationAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """The staff inbox: every conversation, its thread, and a reply box."""

    formfield_overrides = ASCII_NUMBERS
    list_display = ["customer", "account_name", "status", "last_message", "preview", "bot"]
    list_filter = ["account", "status"]
    search_fields = ["customer_username", "customer_id", "messages__text"]
    actions = ["archive", "unarchive", "pause_bot", "resume_bot"]
    fields = [
        "customer_username",
        "customer_id",
        "account_shown",
        "instagram_account_id",
        "status",
        "last_message_at",
        "bot_paused_at",
        "bot_paused_until",
        "created_at",
    ]
    readonly_fields = fields
    change_form_template = "admin/messaging/conversation/change_form.html"

    def has_add_permission(self, request):
        return False  # conversations begin on Instagram

    @admin.display(description="account")
    def account_shown(self, conversation):
        # Not "-" beside the account's id: its DMs are served by the environment's settings.
        if conversation.account is None:
            return "(the environment's account: its credentials are in the settings)"
        return str(conversation.account)

    @admin.display(description="account", ordering="account__name")
    def account_name(self, conversation):
        # Conversations of accounts served by the environment's settings have only the id.
        return conversation.account or conversation.instagram_account_id

    def get_queryset(self, request):
        newest = Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id")
        return (
            super()
            .get_queryset(request)
            .select_related("account")
            .annotate(
                last_text=Subquery(newest.values("text")[:1]),
                last_attachments=Subquery(newest.values("attachments")[:1]),
            )
        )

    @admin.display(ordering="customer_username")
    def customer(self, conversation):
        return (
            f"@{conversation.customer_username}"
            if conversation.customer_username
            else conversation.customer_id
        )

    @admin.display(description="last message at", ordering="last_message_at")
    def last_message(self, conversation):
        # Short, as in the thread: the list must fit beside its filters on a laptop.
        when = conversation.last_message_at
        return date_format(timezone.localtime(when), "Y-m-d H:i") if when else "-"

    @admin.display(description="last message")
    def preview(self, conversation):
        text = conversation.last_text or " ".join(
            f"[{attachment.get('type', 'attachment')}]"
            for attachment in conversation.last_attachments or []
        )
        return text if len(text) <= 50 else text[:49] + "…"

    @admin.display(description="bot")
    def bot(self, conversation):
        return BOT_STATE_LABELS[conversation.bot_silence()]

    # --- actions (the list) and commands (the change page) do the same things ---

    @admin.action(description="Archive", permissions=["change"])
    def archive(self, request, queryset):
        self._run_on_each("archive", request, queryset)

    @admin.action(description="Unarchive", permissions=["change"])
    def unarchive(self, request, queryset):
        self._run_on_each("unarchive", request, queryset)

    @admin.action(description="Pause the bot", permissions=["change"])
    def pause_bot(self, request, queryset):
        self._run_on_each("pause", request, queryset)

    @admin.action(description="Resume the bot", permissions=["change"])
    def resume_bot(self, request, queryset):
        self._run_on_each("resume", request, queryset)

    def _run_on_each(self, command, request, queryset):
        done, run = COMMANDS[command]
        for conversation in queryset:
            run(conversation)
        count = len(queryset)
        self.message_user(request, f"{done} {count} conversation{'s' * (count != 1)}.")

    # --- the conversation page ---

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/reply/", view(self.reply_view), name="messaging_conversation_reply"),
            path("<int:pk>/thread/", view(self.thread_view), name="messaging_conversation_thread"),
            path(
                "<int:pk>/do/<str:command>/",
                view(self.command_view),
                name="messaging_conversation_command",
            ),
            *super().get_urls(),
        ]

    def _conversation_or_404(self, request, pk) -> Conversation:
        """One of the user's conversations; anything that cannot be one of its ids is a 404."""
        conversation_id = id_or_none(str(pk))
        if conversation_id is None:
            raise Http404("No such conversation")
        return get_object_or_404(self.get_queryset(request), pk=conversation_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = self._conversation_or_404(request, object_id)
        extra_context = {
            **(extra_context or {}),
            **self._thread_context(request, conversation),
            "reply_form": ReplyForm(),
            "reply_window": windows.staff_reply_window(conversation),
            "commands": [
                ("unarchive", "Unarchive")
                if conversation.status == Conversation.Status.ARCHIVED
                else ("archive", "Archive"),
                ("resume", "Resume the bot")
                if conversation.bot_is_paused()
                else ("pause", "Pause the bot"),
            ],
            # Nothing on this page is edited as a form: replies and commands have their own.
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def thread_view(self, request, pk):
        """The thread alone: the page refreshes it while messages are on their way."""
        conversation = self._conversation_or_404(request, pk)
        if not self.has_view_permission(request, conversation):
            raise PermissionDenied
        context = self._thread_context(request, conversation)
        return TemplateResponse(request, "admin/messaging/conversation/thread.html", context)

    def reply_view(self, request, pk):
        conversation = self._conversation_or_404(request, pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        # Viewing a conversation is not answering it: sending needs the change permission.
        if not self.has_change_permission(request, conversation):
            raise PermissionDenied
        form = ReplyForm(request.POST)
        if form.is_valid():
            try:
                replies.send_staff_reply(conversation, form.cleaned_data["text"], request.user)
            except replies.ReplyRefused as exc:
                self.message_user(request, f"Not sent: {exc}", messages.ERROR)
                return redirect(_change_url(conversation))
            hours = settings.HUMAN_TAKEOVER_HOURS
            self.message_user(
                request,
                f"Reply queued; it shows as sent once Instagram accepts it. "
                f"The bot stays silent here for {hours:g} hours.",
            )
        else:
            # An empty box asks for text; a reply over the cap is told the cap.
            typed = form.data.get("text", "").strip()
            problem = form.errors["text"][0] if typed else "Write something to send."
            self.message_user(request, problem, messages.ERROR)
        return redirect(_change_url(conversation))

    def command_view(self, request, pk, command):
        conversation = self._conversation_or_404(request, pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if command not in COMMANDS or not self.has_change_permission(request, conversation):
            raise PermissionDenied
        done, run = COMMANDS[command]
        run(conversation)
        self.message_user(request, f"{done} this conversation.")
        return redirect(_change_url(conversation))

    def _thread_context(self, request, conversation):
        thread = conversation.recent_messages(THREAD_LENGTH)
        return {
            "conversation": conversation,
            "thread": thread,
            "thread_truncated": len(thread) == THREAD_LENGTH,
            "in_flight": any(
                m.status in (Message.Status.QUEUED, Message.Status.SENDING) for m in thread
            ),
            "can_reply": self.has_change_permission(request, conversation),
            "now": timezone.now(),
            "bot_silence": conversation.bot_silence(),
            "bot_silence_reason": conversation.bot_silence_reason(),
        }


def _change_url(conversation):
    return reverse("admin:messaging_conversation_change", args=[conversation.pk])


# command: (what the message to staff says was done, the verb)
COMMANDS = {
    "archive": ("Archived", lambda c: c.resolve()),  # the inbox calls it "resolve"
    "unarchive": ("Unarchived", lambda c: c.set_status(Conversation.Status.ACTIVE)),
    "pause": ("Paused the bot (until resumed) in", replies.pause_bot),
    "resume": ("Resumed the bot in", replies.resume_bot),
}


@admin.register(Message)
class MessageAdmin(ScopedAdminMixin, ReadOnlyAdmin):
    account_path = "conversation__account"
    list_display = [
        "created_at",
        "conversation",
        "direction",
        "author",
        "short_text",
        "status",
        "attempts",
    ]
    list_filter = ["direction", "status", "author"]
    search_fields = ["text", "mid", "conversation__customer_id", "conversation__customer_username"]
    list_select_related = ["conversation"]
    actions = ["retry"]

    @admin.display(description="text")
    def short_text(self, message):
        return message.text[:80]

    def has_retry_permission(self, request):
        # Messages are read-only records; retrying a send is a change to the conversation.
        return request.user.has_perm("messaging.change_conversation")

    @admin.action(description="Retry failed outgoing messages", permissions=["retry"])
    def retry(self, request, queryset):
        failed = queryset.filter(direction=Message.Direction.OUTGOING, status=Message.Status.FAILED)
        retried = sum(sending.retry_failed(message) for message in failed)
        note = f"Queued {retried} message{'s' * (retried != 1)} again."
        if skipped := len(queryset) - retried:
            note += f" {skipped} skipped: only failed outgoing messages can be retried."
        self.message_user(request, note)
