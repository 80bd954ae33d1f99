"""Broadcasts' workflows: who a broadcast reaches now, queuing its DMs in the one outbox,
cancelling them, and the outbox kind that sends each (the window checked at send time)."""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.http import QueryDict
from django.utils import timezone

from broadcasts.models import Broadcast, BroadcastSend
from contacts.filtering import BadFilter, Segment
from contacts.models import Contact
from messaging.models import Message, OutboxStatus
from messaging.outbox import NotSent, OutboxKind, Sent
from messaging.windows import messaging_window, window_is_open

logger = logging.getLogger(__name__)

# Rows written per INSERT when a broadcast is queued.
QUEUE_BATCH = 500
# Filters a segment may hold: the account is the broadcast's, opted-out contacts never get one.
SEGMENT_KEYS = {"tag", "field", "source", "last_seen_after", "last_seen_before"}


def parse_segment(text: str) -> Segment:
    """The segment's filters (BadFilter: which one is wrong)."""
    query = QueryDict(text)
    if unknown := sorted(set(query) - SEGMENT_KEYS):
        raise BadFilter(
            f"A segment filters by {', '.join(sorted(SEGMENT_KEYS))}, not {unknown[0]}."
        )
    return Segment.from_query(query)


def audience(broadcast: Broadcast):
    """Every contact of the broadcast's account in its segment, opted out or not."""
    segment = parse_segment(broadcast.segment)
    contacts = Contact.objects.filter(conversation__account_id=broadcast.account_id)
    return segment.apply(contacts)


@dataclass(frozen=True)
class Reach:
    """Who a broadcast would reach if sent now, and why the others would not be."""

    contacts: int
    reachable: int
    window_closed: int
    opted_out: int


def reach(broadcast: Broadcast, now: datetime | None = None) -> Reach:
    contacts = audience(broadcast)
    opted_out = contacts.filter(opted_out_at__isnull=False).count()
    wanted = contacts.filter(opted_out_at__isnull=True)
    total = wanted.count()
    reachable = wanted.filter(window_is_open(now)).count()
    return Reach(total + opted_out, reachable, total - reachable, opted_out)


def queue(broadcast: Broadcast, send_at: datetime | None = None) -> int:
    """Queue a draft's DMs (due at `send_at`, or now): one row per contact of its segment not
    opted out. Returns how many; 0 and nothing done if it is no longer a draft."""
    send_at = send_at or timezone.now()
    with transaction.atomic():
        drafts = Broadcast.objects.filter(pk=broadcast.pk, status=Broadcast.Status.DRAFT)
        if not drafts.update(status=Broadcast.Status.QUEUED, send_at=send_at):
            return 0
        contacts = audience(broadcast)
        opted_out = contacts.filter(opted_out_at__isnull=False).count()
        wanted = contacts.filter(opted_out_at__isnull=True).select_related("conversation")
        account_id = broadcast.account.instagram_id
        rows, queued = [], 0
        for contact in wanted.order_by("pk").iterator(chunk_size=QUEUE_BATCH):
            rows.append(
                BroadcastSend(
                    broadcast=broadcast,
                    contact=contact,
                    instagram_account_id=account_id,
                    status=OutboxStatus.QUEUED,
                    due_at=send_at,
                )
            )
            if len(rows) == QUEUE_BATCH:
                queued += len(BroadcastSend.objects.bulk_create(rows))
                rows = []
        queued += len(BroadcastSend.objects.bulk_create(rows))
        now = timezone.now()
        drafts.model.objects.filter(pk=broadcast.pk).update(
            opted_out_when_queued=opted_out, queued_at=now
        )
    broadcast.refresh_from_db()
    logger.info(
        "Broadcast %s queued: %d DMs due at %s (%d opted out)",
        broadcast.pk,
        queued,
        send_at,
        opted_out,
    )
    return queued


def cancel(broadcast: Broadcast) -> int:
    """Cancel what is not sent yet (a DM being sent finishes); returns how many."""
    with transaction.atomic():
        Broadcast.objects.filter(pk=broadcast.pk).exclude(status=Broadcast.Status.CANCELLED).update(
            status=Broadcast.Status.CANCELLED, cancelled_at=timezone.now()
        )
        cancelled = broadcast.sends.filter(status=OutboxStatus.QUEUED, claimed_by="").update(
            status=OutboxStatus.CANCELLED,
            skipped=BroadcastSend.Skipped.CANCELLED,
            last_error="not sent: staff cancelled the broadcast",
            due_at=None,
        )
    broadcast.refresh_from_db()
    logger.info("Broadcast %s cancelled: %d DMs not sent", broadcast.pk, cancelled)
    return cancelled


class BroadcastSends(OutboxKind):
    name = "broadcast"
    label = "Broadcast DM"
    model = BroadcastSend
    account_path = "broadcast__account"
    context_field, context_admin = "broadcast", "broadcasts_broadcast"
    # Sent again after a stall would be a second copy of a promotion: given up instead.
    given_up_after_stall = "not sent: its worker stopped mid-send (it may have gone out)"

    def listed(self):
        return self.rows().annotate(text=F("broadcast__text"))

    def load(self, pk: int) -> BroadcastSend:
        return BroadcastSend.objects.select_related(
            "broadcast__account", "contact__conversation"
        ).get(pk=pk)

    def account(self, row: BroadcastSend):
        return row.broadcast.account

    def account_id(self, row: BroadcastSend) -> str:
        return row.instagram_account_id

    def describe(self, row: BroadcastSend) -> str:
        return f"Broadcast {row.broadcast_id} DM {row.pk}"

    def prepare(self, row: BroadcastSend):
        # At the moment of sending: a STOP since it was queued, a window closed since.
        if row.broadcast.status == Broadcast.Status.CANCELLED:
            row.skip_as = BroadcastSend.Skipped.CANCELLED
            return NotSent("not sent: staff cancelled the broadcast", OutboxStatus.CANCELLED)
        if row.contact.opted_out:
            row.skip_as = BroadcastSend.Skipped.OPTED_OUT
            return NotSent("not sent: the contact opted out", OutboxStatus.CANCELLED)
        window = messaging_window(row.contact.conversation)
        if not window.open:
            row.skip_as = BroadcastSend.Skipped.WINDOW
            return NotSent(f"not sent: {window.reason}", OutboxStatus.CANCELLED)
        return None

    def order_key(self, row: BroadcastSend):
        return ("conversation", row.contact.conversation_id)  # after a reply to them, say

    def send(self, row: BroadcastSend, client) -> Sent:
        conversation = row.contact.conversation
        return Sent(client.send_message(conversation.customer_id, row.broadcast.text).message_id)

    def sent(self, row: BroadcastSend, outcome: Sent) -> None:
        if not row.mark_sent(outcome.external_id):
            return
        # In the conversation as staff's message (its echo then matches it, and the inbox
        # shows what the customer got).
        conversation = row.contact.conversation
        now = timezone.now()
        Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTGOING,
            author=Message.Author.STAFF,
            status=Message.Status.SENT,
            mid=outcome.external_id,
            text=row.broadcast.text,
            timestamp=now,
            sent_by=row.broadcast.created_by,
            details={"broadcast": row.broadcast_id},
        )
        conversation.record_activity(now)

    def not_sent(self, row: BroadcastSend) -> None:
        if skip_as := getattr(row, "skip_as", ""):
            row.mark_skipped(skip_as)


def is_broadcast_echo(event) -> bool:
    """An echo of a broadcast DM whose send has not returned yet: not staff in Instagram's
    app (which would pause the bot)."""
    return BroadcastSend.objects.filter(
        status=OutboxStatus.SENDING,
        instagram_account_id=event.account_id,
        broadcast__text=event.text.strip(),
    ).exists()
