"""Erasing what we hold: every account a person connected (Meta's data deletion callback,
run by the worker), or one customer of an account (staff, after exporting it).

What is erased is deleted from the database, raw webhook deliveries included, not hidden.
"""

import logging
from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.db.models import PROTECT, ProtectedError
from django.utils import timezone
from django_tasks import task

from accounts.models import InstagramBusinessAccount
from comments.models import Comment, Mention
from contacts.cards import contact_card
from contacts.models import Contact
from inbox.models import Note
from messaging.models import Conversation, Message, WebhookDelivery
from messaging.task_queue import enqueue
from outgoing_webhooks.models import EndpointDelivery
from privacy.models import DataDeletionRequest

logger = logging.getLogger(__name__)

# A delivery still waiting for a worker carries other people's messages too: it is handled
# first (never lost) and erased by the next erasure.
HANDLED = [
    WebhookDelivery.State.PROCESSED,
    WebhookDelivery.State.FAILED,
    WebhookDelivery.State.REJECTED,
]


@task()
def erase_for_deletion_request_task(deletion_id: int) -> None:
    erase_for_deletion_request(deletion_id)


def erase_for_deletion_request(deletion_id: int) -> None:
    deletion = DataDeletionRequest.objects.filter(pk=deletion_id).first()
    if deletion is None or deletion.state == DataDeletionRequest.State.DONE:
        return  # done already (a redelivered request queued it twice)
    counts: Counter = Counter()
    accounts = InstagramBusinessAccount.objects.filter(
        app_scoped_user_id=deletion.app_scoped_user_id, api=deletion.login
    )
    for account in accounts:
        counts += erase_account(account)
    DataDeletionRequest.objects.filter(
        pk=deletion.pk, state=DataDeletionRequest.State.PENDING
    ).update(state=DataDeletionRequest.State.DONE, completed_at=timezone.now(), erased=dict(counts))
    logger.info(
        "Data deletion %s done: %s", deletion.confirmation_code, dict(counts) or "nothing held"
    )


# A deletion still pending this long after Meta asked lost its task (the queue was down).
REQUEUE_AFTER = timedelta(hours=1)


def requeue_pending_deletions(older_than: timedelta = REQUEUE_AFTER) -> int:
    """For the worker's upkeep: queue again the erasures whose task was lost (a queue that
    was down when Meta asked). Erasing twice changes nothing. Returns how many."""
    pending = DataDeletionRequest.objects.filter(
        state=DataDeletionRequest.State.PENDING, requested_at__lt=timezone.now() - older_than
    ).values_list("pk", flat=True)[:100]
    count = 0
    for pk in pending:
        with transaction.atomic():
            enqueue(erase_for_deletion_request_task, pk)
        count += 1
    if count:
        logger.warning("%d data deletion requests were still pending: queued again", count)
    return count


def erase_account(account: InstagramBusinessAccount) -> Counter:
    """Delete the account and everything of it: credentials, conversations, messages,
    comments, mentions, imports, rules, and the raw deliveries that name it."""
    counts: Counter = Counter()
    instagram_id = account.instagram_id
    with transaction.atomic():
        counts["raw deliveries"] = _delete_raw_deliveries(instagram_id.encode())
        # Rows that protect the account go first, each kind once it protects nothing else.
        related = [
            rel
            for rel in InstagramBusinessAccount._meta.get_fields(include_hidden=True)
            if rel.auto_created and not rel.concrete and rel.on_delete is PROTECT
        ]
        for _attempt in range(len(related) + 1):
            left = []
            for rel in related:
                try:
                    with transaction.atomic():
                        _, deleted = rel.related_model.objects.filter(
                            **{rel.field.name: account}
                        ).delete()
                except ProtectedError:
                    left.append(rel)
                    continue
                counts.update({_label(label): n for label, n in deleted.items() if n})
            related = left
            if not related:
                break
        _, deleted = account.delete()
        counts.update({_label(label): n for label, n in deleted.items() if n})
    logger.warning("Erased account %s and its data: %s", instagram_id, dict(counts))
    return +counts


def customer_export(conversation: Conversation) -> dict:
    """Everything we hold about the customer of `conversation`, for them (JSON)."""
    conversations = _customer_conversations(conversation)
    comments = _customer_comments(conversation)
    return {
        "account": conversation.instagram_account_id,
        "customer_id": conversation.customer_id,
        "username": conversation.customer_username,
        "exported_at": timezone.now().isoformat(),
        "conversations": [
            {
                "started_at": c.created_at.isoformat(),
                "messages": [
                    {
                        "at": (m.timestamp or m.created_at).isoformat(),
                        "from": "customer"
                        if m.direction == Message.Direction.INCOMING
                        else "business",
                        "text": m.text,
                        "attachments": m.attachments,
                    }
                    for m in c.messages.order_by("created_at", "id")
                ],
                "notes": [
                    {"at": n.created_at.isoformat(), "text": n.text}
                    for n in Note.objects.filter(conversation=c)
                ],
            }
            for c in conversations
        ],
        "comments": [
            {"at": c.commented_at.isoformat(), "post": c.media_id, "text": c.text} for c in comments
        ],
        # What staff and flows recorded about them: tags, fields, where they came from, notes.
        "contacts": [
            {**contact_card(c), "notes": contact.notes}
            for c in conversations
            if (contact := Contact.objects.filter(pk=c.pk).first())
        ],
    }


def erase_customer(conversation: Conversation) -> Counter:
    """Delete the customer's conversations (messages, notes), comments, mentions by their
    username, and the raw deliveries that carry their id."""
    counts: Counter = Counter()
    username = conversation.customer_username
    with transaction.atomic():
        conversations = _customer_conversations(conversation)
        counts["messages"] = Message.objects.filter(conversation__in=conversations).count()
        counts["notes"] = Note.objects.filter(conversation__in=conversations).count()
        comments = _customer_comments(conversation)
        counts["comments"] = comments.count()
        comments.delete()
        if username:
            mentions = Mention.objects.filter(
                instagram_account_id=conversation.instagram_account_id, author_username=username
            )
            counts["mentions"] = mentions.count()
            mentions.delete()
        # What outgoing webhooks told the business's own endpoints about them (copies kept to
        # show staff the endpoints' answers).
        counts["webhook deliveries"] = _delete_webhook_deliveries(conversation)
        counts["conversations"] = conversations.count()
        conversations.delete()
        counts["raw deliveries"] = _delete_raw_deliveries(
            conversation.customer_id.encode(), conversation.instagram_account_id.encode()
        )
    logger.warning(
        "Erased a customer of account %s on staff request: %s",
        conversation.instagram_account_id,
        dict(+counts),
    )
    return +counts


def _delete_webhook_deliveries(conversation: Conversation) -> int:
    if conversation.account_id is None:
        return 0  # outgoing webhooks are an account's: the environment's account has none
    deliveries = EndpointDelivery.objects.filter(
        endpoint__account_id=conversation.account_id,
        payload__customer_id=conversation.customer_id,
    )
    return deliveries.delete()[0]


def _customer_conversations(conversation: Conversation):
    return Conversation.objects.filter(
        instagram_account_id=conversation.instagram_account_id,
        customer_id=conversation.customer_id,
    )


def _customer_comments(conversation: Conversation):
    return Comment.objects.filter(
        instagram_account_id=conversation.instagram_account_id,
        author_id=conversation.customer_id,
    )


def _delete_raw_deliveries(*needles: bytes) -> int:
    """Delete the handled raw deliveries whose body holds every one of `needles` (ids are
    digits, which Meta's JSON never escapes)."""
    doomed = []
    rows = WebhookDelivery.objects.filter(state__in=HANDLED).values_list("pk", "body")
    for pk, body in rows.iterator(chunk_size=500):
        body = bytes(body)
        if all(b'"' + needle + b'"' in body for needle in needles):
            doomed.append(pk)
    deleted = 0
    for start in range(0, len(doomed), 500):
        deleted += WebhookDelivery.objects.filter(pk__in=doomed[start : start + 500]).delete()[0]
    return deleted


def _label(model_label: str) -> str:
    names = {
        "messaging.Conversation": "conversations",
        "messaging.Message": "messages",
        "comments.Comment": "comments",
        "comments.CommentReply": "comment replies",
        "comments.Mention": "mentions",
        "comments.MentionReply": "mention replies",
        "comments.Post": "posts",
        "history.HistoryImport": "imports",
        "accounts.InstagramBusinessAccount": "accounts (with their credentials)",
        "inbox.Note": "notes",
    }
    return names.get(model_label, model_label)
