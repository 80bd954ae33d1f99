"""Running a rule's flow actions when the bot answers with it: tags, fields, a question whose
answer is saved, a branch to another rule, an A/B variant of its text.

The actions of every active rule are read once per matcher (the rules' own cache: saving an
action or a variant touches its rule, so every process's matcher, and this cache, renew), so
a DM whose rule has no actions costs no statement here.
"""

import dataclasses
import logging
import random
import threading
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from contacts import editing, events, external_requests
from contacts.models import (
    Contact,
    ContactField,
    ContactTag,
    FieldValue,
    ReplyVariant,
    RuleAction,
    VariantSent,
)
from contacts.models.flows import ASK_LAPSES_AFTER, ASK_RETRIES
from messaging.hooks import CustomerMessage
from meta import messages
from rules.matching import Matcher, Reply, RuleSpec, current_matcher

logger = logging.getLogger(__name__)

# Rules one message may run through (branches going on to rules): loops end here.
MAX_STEPS = 5


@dataclass(frozen=True)
class RuleFlow:
    actions: tuple[RuleAction, ...] = ()
    variants: tuple[ReplyVariant, ...] = ()


_lock = threading.Lock()
_flows_of: tuple[Matcher | None, dict[int, RuleFlow], dict[int, RuleAction]] = (None, {}, {})


def _flows() -> tuple[Matcher, dict[int, RuleFlow], dict[int, RuleAction]]:
    global _flows_of
    matcher = current_matcher()
    with _lock:
        if _flows_of[0] is not matcher:
            _flows_of = (matcher, *_load())
        return _flows_of


def _load() -> tuple[dict[int, RuleFlow], dict[int, RuleAction]]:
    actions: dict[int, list[RuleAction]] = {}
    by_id = {}
    for action in RuleAction.objects.select_related("field").filter(rule__is_active=True):
        actions.setdefault(action.rule_id, []).append(action)
        by_id[action.pk] = action
    variants: dict[int, list[ReplyVariant]] = {}
    for variant in ReplyVariant.objects.filter(rule__is_active=True, weight__gt=0):
        variants.setdefault(variant.rule_id, []).append(variant)
    return {
        rule_id: RuleFlow(tuple(actions.get(rule_id, ())), tuple(variants.get(rule_id, ())))
        for rule_id in actions.keys() | variants.keys()
    }, by_id


@dataclass
class _Run:
    """One customer message going through flows."""

    stored: CustomerMessage
    contact: Contact | None  # read only when something waited on the customer
    matcher: Matcher
    flows: dict[int, RuleFlow]
    tagged: bool = False
    variant_sent: VariantSent | None = None

    @property
    def contact_id(self) -> int:
        return self.stored.conversation.pk


def continue_flow(stored: CustomerMessage, contact: Contact | None, reply, reason, *, waiting):
    """The reply to send, after the contact's waiting question and the reply rule's actions.
    `waiting`: `contact` (read) has a question or a variant's outcome pending."""
    matcher, flows, actions = _flows()
    run = _Run(stored, contact, matcher, flows)
    if not flows and not waiting:
        return reply, reason
    previous_variant = contact.variant_sent_id if waiting else None
    answered = False  # the message answered the question: its reply is the flow's own
    if waiting and contact.asking_id and reply is not None:
        reply, answered = _answer_question(run, actions.get(contact.asking_id), reply)
    if not answered and reply is not None and reply.rule is not None and reply.rule.id in flows:
        reply = _run_rule(run, reply)
    if previous_variant:
        _record_what_followed(run, previous_variant)
    if run.variant_sent is not None or previous_variant:
        new = run.variant_sent.pk if run.variant_sent else None
        Contact.objects.filter(pk=run.contact_id).update(variant_sent=new)
    return reply, reason


def _answer_question(run: _Run, action: RuleAction | None, reply: Reply) -> tuple[Reply, bool]:
    """The customer's message answers the question they were asked (contact.asking): the
    reply (the retry text, or the next rule's), and whether it was taken as the answer."""
    contact = run.contact
    lapsed = contact.asked_at is None or (
        run.stored.event.timestamp - contact.asked_at > ASK_LAPSES_AFTER
    )
    if action is None or action.field is None or reply.trigger == "payload" or lapsed:
        # The question's rule changed, a tap a rule answers, or a day went by: dropped.
        _stop_asking(run)
        return reply, False
    try:
        value = action.field.clean_value(run.stored.message.text)
        if not value:
            raise ValidationError("no answer")
    except ValidationError:
        if contact.ask_retries >= ASK_RETRIES:
            logger.info("Question of action %s dropped after %d retries", action.pk, ASK_RETRIES)
            _stop_asking(run)
            return reply, False
        asking_rule = run.matcher.rule(action.rule_id)
        if asking_rule is None:
            _stop_asking(run)
            return reply, False
        Contact.objects.filter(pk=run.contact_id).update(ask_retries=contact.ask_retries + 1)
        retry = messages.Text(action.retry_text)
        spec = dataclasses.replace(asking_rule, messages=(retry,))
        return Reply(action.retry_text, spec, reply.trigger), True
    _save_value(run, action.field_id, value)
    _stop_asking(run)
    following = run.matcher.rule(action.then_rule_id) if action.then_rule_id else None
    if following is None:
        logger.info("Saved the answer to action %s; no active rule goes on", action.pk)
        return reply, False
    return _run_rule(run, Reply(following.response_text, following, reply.trigger)), True


def _stop_asking(run: _Run) -> None:
    Contact.objects.filter(pk=run.contact_id).update(asking=None, ask_retries=0, asked_at=None)


def _run_rule(run: _Run, reply: Reply) -> Reply:
    """`reply`'s rule with its actions run: its variant's text, tags and fields set, and the
    rules its branch goes on to, their messages after its own."""
    sent: list = []
    rule: RuleSpec | None = reply.rule
    for _ in range(MAX_STEPS):
        if rule is None:
            break
        flow = run.flows.get(rule.id, RuleFlow())
        sent.extend(_messages_of(run, rule, flow.variants))
        following = None
        for action in flow.actions:
            following = _act(run, action)
        rule = run.matcher.rule(following) if following else None
    else:
        if rule is not None:
            logger.warning("A flow went through %d rules for one message: stopped", MAX_STEPS)
    return dataclasses.replace(reply, rule=dataclasses.replace(reply.rule, messages=tuple(sent)))


def _messages_of(run: _Run, rule: RuleSpec, variants: tuple[ReplyVariant, ...]) -> list:
    outgoing = list(rule.messages or (messages.Text(rule.response_text),))
    if not variants:
        return outgoing
    variant = random.choices(variants, weights=[v.weight for v in variants])[0]
    outgoing[-1] = dataclasses.replace(outgoing[-1], text=variant.text)
    run.variant_sent = VariantSent.objects.create(variant=variant, contact_id=run.contact_id)
    return outgoing


def _act(run: _Run, action: RuleAction) -> int | None:
    """Carry out one action; the id of the rule it goes on to, if any."""
    kind = RuleAction.Kind
    account_id = run.stored.conversation.account_id
    if action.kind == kind.ADD_TAG:
        tag = editing.tag_named(account_id, action.tag)
        _, added = ContactTag.objects.get_or_create(contact_id=run.contact_id, tag=tag)
        run.tagged = True
        if added:
            events.announce("contact.tag_added", run.stored.conversation, tag=tag.name)
    elif action.kind == kind.REMOVE_TAG:
        removed, _ = ContactTag.objects.filter(
            contact_id=run.contact_id, tag__account_id=account_id, tag__name=action.tag
        ).delete()
        if removed:
            events.announce("contact.tag_removed", run.stored.conversation, tag=action.tag)
    elif action.kind == kind.REQUEST:
        external_requests.queue_request(run.stored, run.contact_id, action)
    elif action.field_id is None:
        logger.info("Action %s has no field (deleted): skipped", action.pk)
    elif action.kind == kind.SET_FIELD:
        _save_value(run, action.field_id, action.value)
    elif action.kind == kind.ASK:
        Contact.objects.filter(pk=run.contact_id).update(
            asking=action, ask_retries=0, asked_at=run.stored.event.timestamp
        )
    if action.kind == kind.BRANCH:
        return action.then_rule_id if _holds(run, action) else action.else_rule_id
    return None


def _holds(run: _Run, action: RuleAction) -> bool:
    if action.tag:
        return ContactTag.objects.filter(
            contact_id=run.contact_id,
            tag__account_id=run.stored.conversation.account_id,
            tag__name=action.tag,
        ).exists()
    values = FieldValue.objects.filter(contact_id=run.contact_id, field_id=action.field_id)
    if not action.value:
        return values.exists()
    # In any case, as the contacts' filters and segments compare, and alike on every database
    # (MariaDB's collation ignores case, PostgreSQL and SQLite do not).
    return values.filter(value__iexact=action.value).exists()


def _save_value(run: _Run, field_id: int, value: str) -> None:
    if not value:
        FieldValue.objects.filter(contact_id=run.contact_id, field_id=field_id).delete()
        return
    saved, _ = FieldValue.objects.update_or_create(
        contact_id=run.contact_id, field_id=field_id, defaults={"value": value}
    )
    key = ContactField.objects.values_list("key", flat=True).get(pk=field_id)
    events.announce("contact.field_saved", run.stored.conversation, field=key, value=saved.value)


def _record_what_followed(run: _Run, variant_sent_id: int) -> None:
    event = run.stored.event
    tapped = bool(getattr(event, "payload", "") or getattr(event, "quick_reply_payload", ""))
    replied = not tapped and bool(run.stored.message.text.strip())
    VariantSent.objects.filter(pk=variant_sent_id).update(
        tapped=tapped, replied=replied, tagged=run.tagged
    )
