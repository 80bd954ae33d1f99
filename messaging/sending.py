"""Sending one queued outgoing message through the Graph API: claim it, wait for the account's
send slot, call Meta, then record what happened (sent, retried later, or failed with a reason).

The Message row is the truth; the task (send_reply_task) only says "look at it now". A reply
is stored queued before any send is attempted, so a worker killed in between leaves it to the
sweep (messaging.recovery).
"""

import logging
import random
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from accounts.encryption import EncryptionKeyError
from accounts.models import InstagramBusinessAccount
from instabot.logging import log_context
from messaging.models import Message, SendThrottle
from messaging.task_queue import enqueue
from messaging.windows import staff_reply_window
from messaging.worker_identity import this_worker
from meta import graph

logger = logging.getLogger(__name__)

TAKEN_OVER = "not sent: staff took the conversation over"
# How a reply's last_error starts while it waits for credentials that cannot be opened
# (messaging.credentials_wait queues it at once when they open again).
WAITING_FOR_CREDENTIALS = "waiting for credentials"

# A worker waits in-process for a send slot this close; a later slot re-queues the message.
MAX_SLOT_WAIT = timedelta(seconds=1)


@task()
def send_reply_task(message_id: int) -> None:
    send_reply(message_id)


def enqueue_send(message_id: int, run_after: datetime | None = None) -> None:
    """Queue the send of an outgoing message, as part of the caller's transaction."""
    enqueue(
        send_reply_task.using(run_after=run_after) if run_after else send_reply_task, message_id
    )


def send_reply(message_id: int) -> None:
    """Send one queued outgoing message. Safe to call twice: only one call claims it."""
    claimed = Message.claim_for_sending(message_id, by=this_worker())
    try:
        message = Message.objects.select_related("conversation__account").get(pk=message_id)
    except Message.DoesNotExist:
        logger.warning("Reply %s no longer exists: nothing to send", message_id)
        return
    with log_context(
        account=message.conversation.instagram_account_id, conversation=message.conversation_id
    ):
        if not claimed:
            logger.info("Reply %s is %s: not sending it again", message.pk, message.status)
            return
        _send(message)


def _send(message: Message) -> None:
    if message.mid:
        # Its echo arrived while an earlier attempt was unanswered: Meta has it already.
        finish_sent(message, message.mid)
        return
    if message.author == Message.Author.BOT and message.conversation.bot_is_paused():
        finish_failed(message, TAKEN_OVER, Message.Status.CANCELLED)
        logger.info("Reply %s cancelled: staff took the conversation over", message.pk)
        return

    if message.author == Message.Author.STAFF and not _staff_window_allows(message):
        return

    account = message.conversation.account
    if account is not None and account.token_is_invalid:
        # Meta already refused this token: don't try until staff replace it.
        since = f"{account.token_invalid_since:%Y-%m-%d %H:%M} UTC"
        finish_failed(message, f"not sent: the account's access token is invalid since {since}")
        return

    account_id = message.conversation.instagram_account_id
    try:
        client = graph.client_for(account)
    except EncryptionKeyError as exc:
        _wait_for_credentials(message, str(exc))
        return
    if account is not None and account.send_typing and _starts_a_bot_reply(message):
        _show_typing(client, account, message.conversation.customer_id)
    if later := _take_send_slot(account_id, account):
        # The account's rate is used up for a while: come back for the slot, attempt uncounted.
        with transaction.atomic():
            if message.defer(later):
                enqueue_send(message.pk, run_after=later)
        return

    try:
        sent = client.send_message(
            message.conversation.customer_id, message.outgoing(), human_agent=message.human_agent
        )
    except graph.InvalidTokenError as exc:
        logger.error(
            "CREDENTIALS PROBLEM: the Graph API rejected the access token for account %s; "
            "its replies fail until the token is replaced. Reply %s failed: %s",
            account_id,
            message.pk,
            exc,
        )
        if account is not None:
            account.mark_token_invalid(str(exc))
        finish_failed(message, f"invalid access token: {exc}")
    except graph.PermanentGraphAPIError as exc:
        logger.warning("Reply %s failed for good: %s", message.pk, exc)
        finish_failed(message, str(exc))
    except graph.RateLimitedError as exc:
        pause_until = SendThrottle.pause(account_id, settings.SEND_RATE_LIMIT_PAUSE)
        logger.warning(
            "Meta is rate-limiting account %s: its sends pause until %s (%s)",
            account_id,
            pause_until,
            exc,
        )
        retry_or_fail(message, str(exc), not_before=pause_until)
    except graph.TransientGraphAPIError as exc:
        retry_or_fail(message, str(exc))
    else:
        finish_sent(message, sent.message_id)


def _staff_window_allows(message: Message) -> bool:
    """Instagram's windows at the moment of sending, not of queuing: a reply retried past 24
    hours goes with the Human Agent tag (if the account may use it), past 7 days not at all."""
    window = staff_reply_window(message.conversation)
    if not window.open:
        finish_failed(message, f"not sent: {window.reason}")
        return False
    if window.human_agent != message.human_agent:
        message.set_human_agent(window.human_agent)
    return True


def _starts_a_bot_reply(message: Message) -> bool:
    return message.author == Message.Author.BOT and message.part == 1 and message.attempts == 1


def _show_typing(client: graph.InstagramClient, account, customer_id: str) -> None:
    """Seen, then "typing…", before a bot reply. Each is a Send API call and takes a send
    slot; being cosmetic, they are skipped when the account's rate is backed up, and a
    failure is logged, never the reply's."""
    for action in ("mark_seen", "typing_on"):
        if _take_send_slot(account.instagram_id, account):
            return
        try:
            client.send_sender_action(customer_id, action)
        except graph.GraphAPIError as exc:
            logger.info("Could not show %s to %s: %s", action, customer_id, exc)
            return


def _wait_for_credentials(message: Message, problem: str) -> None:
    """The account's token cannot be opened (FIELD_ENCRYPTION_KEY): nothing went to Meta, so
    the attempt is not counted, and the reply is tried again every REPLY_STALLED_AFTER until
    the key is fixed (or Meta's 24-hour window refuses it)."""
    at = timezone.now() + timedelta(seconds=settings.REPLY_STALLED_AFTER)
    reason = f"{WAITING_FOR_CREDENTIALS}: {problem}"
    with transaction.atomic():
        if message.defer(at, reason):
            enqueue_send(message.pk, run_after=at)
    logger.error(
        "CREDENTIALS PROBLEM: reply %s not sent, tried again at %s: %s", message.pk, at, problem
    )


def send_rate(account: InstagramBusinessAccount | None) -> float:
    """Messages a second this account may send: its own rate may only be lower than the
    service's (SEND_RATE_PER_SECOND, what Meta allows)."""
    own = account.max_sends_per_second if account else None
    if own:
        return min(own, settings.SEND_RATE_PER_SECOND)
    return settings.SEND_RATE_PER_SECOND


def _take_send_slot(account_id: str, account) -> datetime | None:
    """One call's slot of the account's send rate: taken (after waiting for it, when it is
    within MAX_SLOT_WAIT) and None returned, or the later moment to come back at."""
    slot = SendThrottle.reserve_slot(account_id, send_rate(account), MAX_SLOT_WAIT)
    if slot > timezone.now() + MAX_SLOT_WAIT:
        return slot
    _sleep_until(slot)
    return None


def _sleep_until(moment: datetime) -> None:
    wait = (moment - timezone.now()).total_seconds()
    if wait > 0:
        time.sleep(wait)


def finish_sent(message: Message, mid: str) -> None:
    with transaction.atomic():
        message.mark_sent(mid)
        message.conversation.record_activity(message.timestamp)
        _release_next_part(message)
    logger.info("Sent reply %s to %s as %s", message.pk, message.conversation.customer_id, mid)


def finish_failed(message: Message, reason: str, status: str = Message.Status.FAILED) -> None:
    with transaction.atomic():
        if message.mark_failed(reason, status) and status == Message.Status.FAILED:
            # The answer never reached the customer: they need a person (the inbox).
            message.conversation.await_person(message.created_at)
        fail_later_parts(message, status)


def fail_later_parts(message: Message, status: str = Message.Status.FAILED) -> None:
    # The rest of a split message would make no sense on its own.
    Message.objects.filter(
        first_part=message.head, part__gt=message.part, status=Message.Status.QUEUED
    ).update(status=status, last_error=f"not sent: part {message.part} was not sent")


def _release_next_part(message: Message) -> None:
    if message.is_last_part:
        return
    following = message.head.later_parts.filter(part=message.part + 1).first()
    if following and following.release(timezone.now()):
        enqueue_send(following.pk)


def retry_or_fail(message: Message, reason: str, not_before: datetime | None = None) -> None:
    """After a failed attempt: another one later (backoff), or give up after the last."""
    if message.attempts >= settings.SEND_MAX_ATTEMPTS:
        logger.warning(
            "Reply %s failed after %d attempts: %s", message.pk, message.attempts, reason
        )
        finish_failed(message, f"gave up after {message.attempts} attempts: {reason}")
        return
    at = timezone.now() + timedelta(seconds=retry_delay(message.attempts))
    if not_before is not None:
        at = max(at, not_before)
    with transaction.atomic():
        if not message.schedule_retry(reason, at):
            logger.info("Reply %s changed state meanwhile (%s): no retry", message.pk, reason)
            return
        enqueue_send(message.pk, run_after=at)
    logger.warning(
        "Reply %s: attempt %d failed (%s); retrying at %s", message.pk, message.attempts, reason, at
    )


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt, after `attempts` failed ones: backoff with jitter.

    Jitter spreads the retries of many replies that failed together (an outage) so they do
    not all hit Meta again in the same second.
    """
    ceiling = min(
        settings.SEND_RETRY_MAX_DELAY, settings.SEND_RETRY_BASE_DELAY * 2 ** (attempts - 1)
    )
    return random.uniform(ceiling / 2, ceiling)


def retry_failed(message: Message) -> bool:
    """Send a failed outgoing message again, from its first unsent part (an operator's retry)."""
    head = message.head
    parts = [head, *head.later_parts.order_by("part")]
    unsent = [part for part in parts if part.status != Message.Status.SENT]
    if not unsent or unsent[0].status != Message.Status.FAILED:
        return False
    with transaction.atomic():
        if not unsent[0].requeue(timezone.now()):
            return False
        for part in unsent[1:]:
            part.requeue(None)  # waits for the part before it, as when first queued
        enqueue_send(unsent[0].pk)
    logger.info("Reply %s queued again by an operator", unsent[0].pk)
    return True


# Why a reply failed while the account's token did not work (_send): what reconnecting
# sends again. Older than the Human Agent tag's 7 days, Meta refuses anything.
TOKEN_REFUSED = ("invalid access token", "not sent: the account's access token is invalid")
RESEND_AFTER_RECONNECT_WITHIN = timedelta(days=7)


def resend_after_reconnect(sender, account, invalid_since, **kwargs) -> int:
    """The account was connected again (accounts.signals.account_reconnected): send the
    replies that failed because its token did not work. Returns how many."""
    oldest = timezone.now() - RESEND_AFTER_RECONNECT_WITHIN
    since = max(invalid_since - timedelta(days=1), oldest)
    failed = (
        Message.objects.filter(
            conversation__account=account,
            direction=Message.Direction.OUTGOING,
            status=Message.Status.FAILED,
            created_at__gte=since,
        )
        .filter(
            Q(last_error__startswith=TOKEN_REFUSED[0]) | Q(last_error__startswith=TOKEN_REFUSED[1])
        )
        .order_by("created_at", "id")
    )
    resent = sum(retry_failed(message) for message in failed)
    if resent:
        logger.info("Account %s reconnected: %d waiting replies queued again", account, resent)
    return resent
