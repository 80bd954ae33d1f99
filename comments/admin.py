from dataclasses import replace

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.access import AccountMenusForm, ScopedAdminMixin
from accounts.encryption import EncryptionKeyError
from accounts.models import InstagramBusinessAccount
from comments.choosing import choose_comment_rule, choose_mention_rule
from comments.media import account_media, prepare_to_save
from comments.models import Comment, CommentReply, CommentRule, Mention, MentionReply
from comments.posts import web_address
from instabot.admin_forms import ASCII_NUMBERS, AsciiModelChoiceField
from meta import graph


class MediaIdWidget(forms.TextInput):
    """The post's id, typed in or picked from the account's posts (a popup, as Django's own
    raw-id lookups open)."""

    def render(self, name, value, attrs=None, renderer=None):
        box = super().render(name, value, attrs, renderer)
        # The magnifying glass Django's raw-id lookups show, and their popup mechanism.
        return format_html(
            '{} <a href="{}" class="related-lookup" id="lookup_id_{}" '
            'title="Pick from the account\'s posts" '
            'aria-label="Pick from the account\'s posts"></a>',
            box,
            reverse("admin:comments_commentrule_media"),
            name,
        )


RULE_FIELDS = [
    "account",
    "keywords",
    "match_type",
    "scope",
    "media_id",
    "private_reply_text",
    "public_replies",
    "priority",
    "is_active",
]


class CommentRuleForm(forms.ModelForm):
    class Meta:
        model = CommentRule
        fields = RULE_FIELDS
        widgets = {
            "media_id": MediaIdWidget(),
            "public_replies": forms.Textarea(attrs={"rows": 4, "cols": 60}),
            "private_reply_text": forms.Textarea(attrs={"rows": 3, "cols": 60}),
        }


# As wide as the screen allows, up to about 60 characters (phones included).
FLUID = "width: 100%; max-width: 40em; box-sizing: border-box;"


class TryCommentForm(AccountMenusForm):
    text = forms.CharField(
        label="Comment", widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "style": FLUID})
    )
    account = AsciiModelChoiceField(
        InstagramBusinessAccount.objects.none(),
        required=False,
        empty_label="Any account (rules for every account only)",
    )
    media_id = forms.CharField(label="Post id", required=False, max_length=64)
    mention = forms.BooleanField(
        label="It @mentions the account (mention rules answer, with public replies only)",
        required=False,
    )


class PickAccountForm(AccountMenusForm):
    account = AsciiModelChoiceField(InstagramBusinessAccount.objects.none(), empty_label=None)


@admin.register(CommentRule)
class CommentRuleAdmin(ScopedAdminMixin, admin.ModelAdmin):
    formfield_overrides = ASCII_NUMBERS
    form = CommentRuleForm
    list_display = [
        "trigger",
        "scope",
        "post",
        "short_private_reply",
        "public_variants",
        "account",
        "priority",
        "is_active",
    ]
    list_editable = ["priority", "is_active"]
    list_filter = ["account", "is_active", "scope"]
    search_fields = ["keywords", "private_reply_text", "public_replies", "media_id"]
    list_select_related = ["account"]
    fields = RULE_FIELDS

    class Media:
        js = ["comments/media_picker.js"]

    @admin.display(description="keywords", ordering="keywords")
    def trigger(self, rule):
        if not rule.keywords.strip() and rule.scope == CommentRule.Scope.MENTION:
            return "(any mention)"
        return rule.keywords

    @admin.display(description="post")
    def post(self, rule):
        if rule.scope == CommentRule.Scope.MENTION:
            return "-"  # any post the account is @mentioned on
        if rule.scope == CommentRule.Scope.NEXT_POST and not rule.media_id:
            return "waiting for the next post"
        return rule.media_id or "any"

    @admin.display(description="private reply")
    def short_private_reply(self, rule):
        return rule.private_reply_text[:60]

    @admin.display(description="public replies")
    def public_variants(self, rule):
        return len(rule.public_reply_variants())

    def save_model(self, request, obj, form, change):
        previous = CommentRule.objects.filter(pk=obj.pk).first() if change else None
        if warning := prepare_to_save(obj, previous):
            messages.warning(request, warning)
        super().save_model(request, obj, form, change)

    def get_urls(self):
        own = [
            path(
                "try/",
                self.admin_site.admin_view(self.try_comment_view),
                name="comments_commentrule_try",
            ),
            path(
                "media/",
                self.admin_site.admin_view(self.pick_media_view),
                name="comments_commentrule_media",
            ),
        ]
        return [*own, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "try_form": TryCommentForm(user=request.user)}
        return super().changelist_view(request, extra_context)

    def try_comment_view(self, request):
        """Which rule would answer a comment, and with what: nothing is sent or changed."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = TryCommentForm(request.GET or None, user=request.user)
        outcome = None
        if form.is_valid():
            account = form.cleaned_data["account"]
            comment = Comment(
                text=form.cleaned_data["text"],
                media_id=form.cleaned_data["media_id"].strip(),
                account=account,
                instagram_account_id=account.instagram_id if account else "",
                commented_at=timezone.now(),
            )
            if form.cleaned_data["mention"]:
                # What the worker asks once it has read a mention.
                rule = choose_mention_rule(account, comment.text)
            else:
                # The question the worker asks of the next comment; a rule waiting for the
                # next post is not bound by a try.
                rule = choose_comment_rule(account, comment, bind=False)
            outcome = {"rule": rule, "variants": rule.public_reply_variants() if rule else []}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Try a comment",
            "form": form,
            "outcome": outcome,
        }
        return TemplateResponse(request, "admin/comments/commentrule/try_comment.html", context)

    def pick_media_view(self, request):
        """The account's posts from the Graph API, to pick a rule's post from."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = PickAccountForm(request.GET or None, user=request.user)
        posts, problem = [], ""
        if form.is_valid():
            try:
                posts = [
                    replace(
                        media,
                        permalink=web_address(media.permalink),
                        thumbnail_url=web_address(media.thumbnail_url),
                    )
                    for media in account_media(form.cleaned_data["account"])
                ]
            except (graph.GraphAPIError, EncryptionKeyError) as exc:
                problem = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Pick a post",
            "form": form,
            "posts": posts,
            "problem": problem,
            "is_popup": "_popup" in request.GET,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/comments/commentrule/pick_media.html", context)


class CommentReplyInline(admin.TabularInline):
    model = CommentReply
    fields = ["kind", "status", "text", "attempts", "last_error", "due_at", "sent_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


# A comment's page shows this much of its text (Instagram allows 2,200 characters).
SHOWN_TEXT = 5000


@admin.register(Comment)
class CommentAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Comments as Instagram sent them, and what the service did with each."""

    formfield_overrides = ASCII_NUMBERS
    list_display = ["when", "author", "short_text", "media_id", "outcome", "rule_name"]
    list_filter = ["status", "account", "is_live", "media_product_type"]
    search_fields = ["text", "author_username", "author_id", "comment_id", "media_id"]
    date_hierarchy = "commented_at"
    list_select_related = ["rule"]
    inlines = [CommentReplyInline]
    readonly_fields = [
        "comment_id",
        "instagram_account_id",
        "account",
        "media_id",
        "media_product_type",
        "is_live",
        "parent_id",
        "author_id",
        "author_username",
        "comment_text",
        "commented_at",
        "ad_id",
        "ad_title",
        "status",
        "status_reason",
        "rule",
        "conversation",
        "received_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False  # comments are written on Instagram

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="commented", ordering="commented_at")
    def when(self, comment):
        return timezone.localtime(comment.commented_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="status", ordering="status")
    def outcome(self, comment):
        status = comment.get_status_display()
        return f"{status}: {comment.status_reason}" if comment.status_reason else status

    @admin.display(description="rule", ordering="rule")
    def rule_name(self, comment):
        return str(comment.rule) if comment.rule else "-"

    @admin.display(description="author", ordering="author_username")
    def author(self, comment):
        return f"@{comment.author_username}" if comment.author_username else comment.author_id

    @admin.display(description="comment")
    def short_text(self, comment):
        return comment.text if len(comment.text) <= 80 else f"{comment.text[:79]}…"

    @admin.display(description="text")
    def comment_text(self, comment):
        # Instagram's comments are at most 2,200 characters; a delivery may claim anything, and
        # the page must stay readable: the start, in a box that wraps and scrolls.
        shown = comment.text[:SHOWN_TEXT]
        rest = len(comment.text) - len(shown)
        return format_html(
            '<div class="comment-text">{}</div>{}',
            shown,
            format_html('<p class="help">… and {} more characters.</p>', rest) if rest else "",
        )


@admin.register(Mention)
class MentionAdmin(ScopedAdminMixin, admin.ModelAdmin):
    formfield_overrides = ASCII_NUMBERS
    list_display = ["mentioned_at", "author_username", "short_text", "answered", "media_id"]
    list_filter = ["account", "reply__status"]
    search_fields = ["media_id", "comment_id", "author_username", "text"]
    list_select_related = ["reply"]
    readonly_fields = [
        "instagram_account_id",
        "account",
        "media_id",
        "comment_id",
        "mentioned_at",
        "author_username",
        "text",
        "link",
        "answer",
        "replied",
        "reply_rule",
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="text")
    def short_text(self, mention):
        return mention.text[:60]

    @admin.display(description="post")
    def link(self, mention):
        if not mention.permalink:
            return "-"
        return format_html(
            '<a href="{}" rel="noopener">{}</a>', mention.permalink, mention.permalink
        )

    @admin.display(description="answer")
    def answered(self, mention):
        reply = _reply_of(mention)
        return reply.get_status_display() if reply is not None else "Recorded only"

    @admin.display(description="answer")
    def answer(self, mention):
        """What became of it: recorded only (no mention rule), or its reply's state and why."""
        reply = _reply_of(mention)
        if reply is None:
            return "Recorded (no mention rule)"
        why = f": {reply.last_error}" if reply.last_error else ""
        return f"{reply.get_status_display()}{why}"

    @admin.display(description="replied in public")
    def replied(self, mention):
        reply = _reply_of(mention)
        return reply.text if reply is not None and reply.text else "-"

    @admin.display(description="mention rule")
    def reply_rule(self, mention):
        reply = _reply_of(mention)
        if reply is None or reply.rule_id is None:
            return "-"
        url = reverse("admin:comments_commentrule_change", args=[reply.rule_id])
        return format_html('<a href="{}">#{}</a>', url, reply.rule_id)


def _reply_of(mention: Mention) -> MentionReply | None:
    try:
        return mention.reply
    except MentionReply.DoesNotExist:
        return None
