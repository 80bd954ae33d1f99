from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from accounts.access import ScopedAdminMixin
from instabot.admin_forms import ASCII_NUMBERS
from meta.display import outgoing_display
from rules.forms import ResponseRuleForm, RuleMessageForm, TryMessageForm
from rules.matching import Incoming, answer, current_matcher
from rules.models import MAX_EXTRA_MESSAGES, ResponseRule, RuleMessage


class RuleMessageInline(admin.StackedInline):
    model = RuleMessage
    form = RuleMessageForm
    extra = 0
    max_num = MAX_EXTRA_MESSAGES
    formfield_overrides = ASCII_NUMBERS

    def get_formset(self, request, obj=None, **kwargs):
        # Refuse an eleventh message as the API does, not only hide the "add another" link.
        return super().get_formset(request, obj, validate_max=True, **kwargs)

    verbose_name = "message sent before the text"
    verbose_name_plural = (
        "messages sent before the text (a photo, a video, cards in a row make a carousel)"
    )


# Inlines feature apps add to a rule's page from their admin modules (contacts: its flow
# actions and A/B variants); this module never imports them.
extra_inlines: list[type[admin.options.InlineModelAdmin]] = []


@admin.register(ResponseRule)
class ResponseRuleAdmin(ScopedAdminMixin, admin.ModelAdmin):
    form = ResponseRuleForm
    inlines = [RuleMessageInline]
    formfield_overrides = ASCII_NUMBERS
    list_display = [
        "when",
        "short_response",
        "account",
        "priority",
        "is_active",
        "updated",
    ]
    list_editable = ["priority", "is_active"]
    list_filter = ["account", "is_active", "trigger", "match_type"]
    search_fields = ["keywords", "payload", "referral_ref", "response_text"]
    list_select_related = ["account"]
    readonly_fields = ["flow"]
    fieldsets = [
        (
            "When it answers",
            {
                "fields": [
                    "trigger",
                    "keywords",
                    "match_type",
                    "payload",
                    "referral_ref",
                    "attachment_types",
                ],
                "description": "Which trigger wins when several could: a tap (payload), then a "
                "link or ad (referral), a story mention, a story reply, a new customer's first "
                "message (welcome), keywords, a message without text. Within one trigger, the "
                "highest priority.",
            },
        ),
        ("What it sends (last)", {"fields": ["response_text", "quick_replies", "buttons"]}),
        (None, {"fields": ["account", "priority", "is_active", "flow"]}),
    ]

    class Media:
        js = ["rules/rule_form.js"]

    @admin.display(description="when", ordering="trigger")
    def when(self, rule):
        if rule.trigger == ResponseRule.Trigger.KEYWORDS:
            # Short ("whole word: hat, cap"): the list fits beside its filters on a laptop.
            match = rule.match_type.replace("_", " ")
            return f"{'whole word' if match == 'word' else match}: {rule.keywords[:60]}"
        detail = {
            ResponseRule.Trigger.PAYLOAD: rule.payload,
            ResponseRule.Trigger.REFERRAL: rule.referral_ref or "any link or ad",
            ResponseRule.Trigger.ATTACHMENT: rule.attachment_types or "any",
        }.get(rule.trigger, "")
        label = ResponseRule.Trigger(rule.trigger).name.replace("_", " ").lower()
        return f"{label}: {detail}" if detail else label

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, rule):
        # The day, on one line: the list must fit beside its filters on a laptop; the time is
        # in the tooltip.
        moment = timezone.localtime(rule.updated_at)
        return format_html(
            '<span title="{}">{}</span>',
            date_format(moment, "DATETIME_FORMAT"),
            date_format(moment, "DATE_FORMAT"),
        )

    @admin.display(description="reply")
    def short_response(self, rule):
        taps = [item["title"] for item in [*rule.quick_replies, *rule.buttons]]
        suffix = f" [{' | '.join(taps)}]" if taps else ""
        return rule.response_text[:80] + suffix

    @admin.display(description="flow")
    def flow(self, rule):
        """Where this rule's buttons lead, and which rules lead here: the flow, readable."""
        if rule.pk is None:
            return "Save the rule to see where its buttons lead."
        # Where a tap leads is what the bot would answer it with: the matcher says so.
        matcher = current_matcher()
        leads = [
            (payload, _payload_rule(matcher, payload, rule.account_id))
            for payload in dict.fromkeys(rule.payloads_pointed_at())
        ]
        rows = format_html_join(
            "",
            "<li>{} → {}</li>",
            (
                (
                    payload,
                    format_html(
                        '<a href="{}">{}</a>', _change_url(target.id), target.response_text[:40]
                    )
                    if target
                    else "no active rule has this payload yet: the fallback would answer",
                )
                for payload, target in leads
            ),
        )
        pointing = []
        if rule.trigger == ResponseRule.Trigger.PAYLOAD:
            others = ResponseRule.objects.exclude(pk=rule.pk).prefetch_related("extra_messages")
            if rule.account_id is not None:
                others = others.filter(Q(account=rule.account_id) | Q(account__isnull=True))
            pointing = [other for other in others if rule.payload in other.payloads_pointed_at()]
        here = format_html_join(
            ", ",
            '<a href="{}">#{}</a>',
            ((_change_url(other.pk), other.pk) for other in pointing),
        )
        return format_html(
            "<ul>{}</ul>{}",
            rows or format_html("<li>{}</li>", "No buttons or quick replies."),
            format_html("<p>Reached from rules {}</p>", here) if pointing else "",
        )

    def get_inlines(self, request, obj):
        return [*super().get_inlines(request, obj), *extra_inlines]

    def get_urls(self):
        try_url = path(
            "try/", self.admin_site.admin_view(self.try_message_view), name="rules_responserule_try"
        )
        return [try_url, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "try_form": TryMessageForm(user=request.user)}
        return super().changelist_view(request, extra_context)

    def try_message_view(self, request):
        """Which rule would answer a message, and with what: without sending anything."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = TryMessageForm(request.GET or None, user=request.user)
        outcome = None
        if form.is_valid():
            data = form.cleaned_data
            # The same question the bot asks of the next message.
            reply, silence = answer(data["account"], _incoming(data))
            rule = reply and reply.rule and ResponseRule.objects.filter(pk=reply.rule.id).first()
            outcome = {
                "rule": rule,
                "silence": silence,
                "trigger": ResponseRule.Trigger(reply.trigger).label if rule else "",
                "messages": [outgoing_display(message) for message in reply.messages]
                if reply
                else [],
                # An answerer's answer (knowledge), or why the answerers left it to the fallback.
                "answer": reply.answer if reply else None,
                "notes": reply.notes if reply else (),
            }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Try a message",
            "form": form,
            "outcome": outcome,
            "cooldown_hours": settings.FALLBACK_COOLDOWN_HOURS,
        }
        return TemplateResponse(request, "admin/rules/responserule/try_message.html", context)


def _incoming(data: dict) -> Incoming:
    attachments = ("story_mention",) if data["story"] == "mention" else ()
    if data["attachment"]:
        attachments += (data["attachment"],)
    return Incoming(
        text=data["text"],
        payload=data["payload"],
        referral_ref=data["referral_ref"] or None,
        ad_id=data["referral_ref"],
        story_mention=data["story"] == "mention",
        story_reply=data["story"] == "reply",
        attachment_types=attachments,
        is_first_message=lambda: data["first_message"],
        # A ref and nothing else: the customer opened the chat from the link or the ad.
        opens_thread=bool(data["referral_ref"])
        and not any(data[name] for name in ("text", "payload", "story", "attachment")),
    )


def _payload_rule(matcher, payload: str, account_id: int | None):
    """The rule that answers a tap on `payload` for the account (a RuleSpec), or None."""
    spec, trigger = matcher.choose(Incoming(payload=payload), account_id)
    return spec if trigger == "payload" else None


def _change_url(rule_id: int) -> str:
    return reverse("admin:rules_responserule_change", args=[rule_id])
