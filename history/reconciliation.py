"""Reconciliation: finding, through the Conversations API, the messages Meta has and we do not.

Every RECONCILE_INTERVAL the worker's upkeep looks at each active account's conversations
active since its last pass (Meta lists them most recently active first), and at their messages
since then. A message we do not have is handled as if its webhook had come, through the same
event path (events.handle_in_transaction): a customer's message is stored, and answered if it
is inside the 24-hour window and nobody has written to the customer since. Message.mid is
unique and a reply is one per message, so a webhook arriving later, earlier or at the same
moment on another worker never gets a second answer.

Cost per pass and account: one call per 25 conversations active since the last pass, plus one
per 20 messages of each (usually one), at 2 calls/s.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Min
from django.utils import timezone

from accounts.encryption import EncryptionKeyError
from accounts.models import InstagramBusinessAccount
from history.calls import NotNow, PacedCalls, conversations_node
from history.models import AccountReconciliation
from history.storing import customer_of
from instabot.logging import log_context
from messaging import events
from messaging.models import Message, WebhookDelivery
from messaging.payloads import Attachment, MessageEvent
from messaging.sending import send_reply
from meta import graph
from meta.conversations import HistoryMessage

logger = logging.getLogger(__name__)

# Each pass starts this much before the last one ended: Meta's clock and ours differ a little.
OVERLAP = timedelta(seconds=60)
# The upkeep waits this long for a slot in-process; a later one ends the pass (next pass).
MAX_SLOT_WAIT = timedelta(seconds=5)
FOUND_BY = "reconciliation"


@dataclass
class PassResult:
    conversations: int = 0
    found: int = 0  # messages Meta has and we had not, now stored
    found_from_customers: int = 0
    answered: int = 0
    skipped: int = 0  # messages that could not be stored (logged each)
    calls: int = 0
    error: str = ""


def reconcile_due_accounts(limit: int | None = None) -> int:
    """Reconcile the active accounts whose pass is due, oldest due first, at most `limit` of
    them (None: all); one worker per account and pass. Returns how many were reconciled.

    The worker's pass asks for one at a time (history.apps): its Graph calls take a second or
    so, and the waiting deliveries go first between two accounts."""
    interval = timedelta(seconds=settings.RECONCILE_INTERVAL)
    accounts = InstagramBusinessAccount.objects.filter(
        is_active=True, token_invalid_since__isnull=True
    )
    AccountReconciliation.add_missing(accounts)
    done = claimed = 0
    for state in AccountReconciliation.due(accounts):
        if limit is not None and claimed >= limit:
            break
        account = state.account
        # One account's trouble (its credentials cannot be opened, say) never stops the others.
        try:
            if not account.access_token:
                continue
            if state.claim(interval):
                claimed += 1
                reconcile_account(account, state)
                done += 1
        except EncryptionKeyError as exc:
            # No traceback: /healthz names the credentials, and the pass runs once the
            # operator fixes FIELD_ENCRYPTION_KEY.
            logger.error(
                "CREDENTIALS PROBLEM: account %s not reconciled: %s", account.instagram_id, exc
            )
        except Exception:
            logger.exception("Reconciliation of account %s failed", account.instagram_id)
    return done


def reconcile_account(account, state: AccountReconciliation) -> PassResult:
    now = timezone.now()
    # Messages newer than this are not judged yet: their webhook may still be on its way, or
    # waiting in our queue. The next pass judges them.
    checked_until = now - timedelta(seconds=settings.RECONCILE_GRACE)
    waiting = WebhookDelivery.objects.filter(
        state__in=[WebhookDelivery.State.RECEIVED, WebhookDelivery.State.PROCESSING]
    ).aggregate(oldest=Min("received_at"))["oldest"]
    if waiting is not None:
        # Meta's times are to the second: a message of that second may be the waiting one.
        checked_until = min(checked_until, waiting - timedelta(seconds=1))
    start = now - timedelta(seconds=settings.RECONCILE_LOOKBACK)
    if state.checked_until is not None:
        start = max(start, state.checked_until - OVERLAP)

    result = PassResult()
    call = PacedCalls(account, MAX_SLOT_WAIT)
    with log_context(account=account.instagram_id):
        try:
            _reconcile(account, call, start, checked_until, result)
        except NotNow as wait:
            result.error = f"pass cut short, Meta asked to wait: {wait.reason}"
        except graph.GraphAPIError as exc:
            result.error = f"pass failed: {exc}"
        result.calls = call.made
        if result.error:
            logger.warning("Reconciliation of account %s: %s", account.instagram_id, result.error)
            state.record_failure(result.error, found=result.found, calls=result.calls)
        else:
            state.record_pass(checked_until=checked_until, found=result.found, calls=result.calls)
            logger.info(
                "Reconciled account %s: %d conversations checked, %d messages found missing "
                "(%d calls)%s",
                account.instagram_id,
                result.conversations,
                result.found,
                result.calls,
                f", {result.skipped} left out (logged above)" if result.skipped else "",
            )
        _check_subscription(account, state, result)
    return result


def _reconcile(account, call: PacedCalls, start: datetime, until: datetime, result) -> None:
    after = ""
    while True:
        page = call(call.client.list_conversations, conversations_node(account), after)
        for summary in page.conversations:
            if summary.updated_time < start:
                return  # most recently active first: the rest is older still
            result.conversations += 1
            thread = _messages_since(call, summary.id, start)
            judged = [m for m in thread if m.created_time <= until]
            stored = set(
                Message.objects.filter(mid__in=[m.id for m in judged]).values_list("mid", flat=True)
            )
            missing = [m for m in judged if m.id not in stored]
            # What the business sent first: a customer message it already answered must not
            # be answered again by the bot. Then oldest first, as they were written.
            missing.sort(key=lambda m: (m.from_id != account.instagram_id, m.created_time))
            for message in missing:
                try:
                    _handle_missing(account, message, result)
                except Exception:
                    # One message that cannot be stored never stops the pass: the others (a
                    # missed DM in another thread, say) are still found and answered.
                    result.skipped += 1
                    logger.exception(
                        "Reconciliation of account %s: message %s left out",
                        account.instagram_id,
                        message.id,
                    )
        if not page.next_cursor:
            return
        after = page.next_cursor


def _messages_since(call: PacedCalls, conversation_id: str, start: datetime) -> list:
    messages, after = [], ""
    while True:
        page = call(call.client.list_messages, conversation_id, after)
        for message in page.messages:  # newest first
            if message.created_time < start:
                return messages
            messages.append(message)
        if not page.next_cursor:
            return messages
        after = page.next_cursor


def _handle_missing(account, message: HistoryMessage, result: PassResult) -> None:
    event = as_event(account, message)
    if event is None:
        return
    with log_context(mid=message.id):
        reply = events.handle_in_transaction(event, account)
        stored = Message.objects.filter(mid=message.id).values_list("details", flat=True).first()
        if stored is None:
            return
        if not event.is_echo and stored.get("found_by") != FOUND_BY:
            return  # its webhook was handled meanwhile (on another worker): not missing after all
        result.found += 1
        if not event.is_echo:
            result.found_from_customers += 1
        logger.warning(
            "Reconciliation found message %s %s customer %s (sent %s) that no webhook "
            "delivered; handled now%s",
            message.id,
            "to" if event.is_echo else "from",
            event.customer_id,
            f"{message.created_time:%Y-%m-%d %H:%M:%S} UTC",
            ", answered" if reply is not None else "",
        )
        if reply is not None:
            result.answered += 1
            try:
                send_reply(reply.pk)
            except DatabaseError:
                logger.exception("Reply %s: could not be sent now; the sweep retries it", reply.pk)


def as_event(account, message: HistoryMessage) -> MessageEvent | None:
    """The webhook event Meta would have sent for this message."""
    customer_id = customer_of(account, message)
    if not customer_id:
        return None
    is_echo = message.from_id == account.instagram_id
    return MessageEvent(
        account_id=account.instagram_id,
        sender_id=message.from_id,
        recipient_id=customer_id if is_echo else account.instagram_id,
        timestamp=message.created_time,
        mid=message.id,
        text=message.text,
        attachments=tuple(Attachment(type=a.type, url=a.url) for a in message.attachments),
        is_echo=is_echo,
        found_by=FOUND_BY,
    )


def _check_subscription(account, state: AccountReconciliation, result: PassResult) -> None:
    """Customer messages only reconciliation brought, and no webhook for longer than
    WEBHOOK_SILENCE_ALERT: Meta has probably stopped delivering (a subscription dropped)."""
    if not result.found_from_customers:
        if result.found == 0 and not result.error:
            state.suspect_subscription(False)
        return
    silence = timedelta(seconds=settings.WEBHOOK_SILENCE_ALERT)
    recent = (
        Message.objects.filter(
            conversation__instagram_account_id=account.instagram_id,
            direction=Message.Direction.INCOMING,
            created_at__gte=timezone.now() - silence,
        )
        .order_by("-created_at")
        .values_list("details", flat=True)[:500]
    )
    delivered = any("found_by" not in (details or {}) for details in recent)
    if delivered:
        state.suspect_subscription(False)
        return
    state.suspect_subscription(True)
    logger.error(
        "WEBHOOK SUBSCRIPTION PROBABLY BROKEN for account %s: no customer message came by "
        "webhook for over %s, while reconciliation found %d that none delivered. "
        "Check the app's webhook subscription (Meta's App Dashboard, Webhooks: instagram, "
        "messages).",
        account.instagram_id,
        _span(silence),
        result.found_from_customers,
    )


def _span(span: timedelta) -> str:
    seconds = span.total_seconds()
    return f"{seconds / 60:.0f} minutes" if seconds >= 120 else f"{seconds:.0f} seconds"
