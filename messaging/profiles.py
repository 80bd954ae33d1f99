"""Customers' usernames, for the inbox: asked of Instagram by the worker when no delivery waits."""

import logging

from django.utils import timezone

from accounts.encryption import EncryptionKeyError
from messaging import hooks
from messaging.models import Conversation
from meta import graph

logger = logging.getLogger(__name__)

# How many usernames a worker fetches between two looks for waiting deliveries: few, so that
# a delivery arriving meanwhile waits for a few Graph calls at most.
USERNAME_BATCH = 5


def fetch_missing_usernames(limit: int = USERNAME_BATCH) -> int:
    """Ask Instagram for the usernames of the newest conversations' customers, once each;
    return how many were asked for (0: none is missing).

    A username only labels the inbox: it waits until the worker has nothing better to do, so
    a burst of new customers is answered first and named afterwards. Each conversation is
    claimed with a conditional UPDATE, so two workers never ask for the same one.
    """
    missing = Conversation.objects.filter(profile_requested_at__isnull=True)
    # Read with what the fetch needs (the customer, the account's credentials), in one query
    # for the batch; each is then claimed before it is asked for.
    newest = missing.select_related("account").only(
        "pk", "customer_id", "customer_username", "account"
    )
    asked = 0
    for conversation in newest.order_by("-pk")[:limit]:
        if missing.filter(pk=conversation.pk).update(profile_requested_at=timezone.now()):
            try:
                fetch_customer_profile(conversation.pk, read=conversation)
            except Exception:
                # One customer's profile never stops the delivery loop; they stay known by id.
                logger.exception("Profile of customer %s not stored", conversation.customer_id)
            asked += 1
    return asked


def fetch_customer_profile(conversation_id: int, read: Conversation | None = None) -> None:
    """Learn the customer's username from Instagram; best effort: a customer whose profile
    Instagram does not give stays known by their id. `read`: the conversation as read with
    its account just before (not read again)."""
    conversation = read
    if conversation is None:
        try:
            conversation = Conversation.objects.select_related("account").get(pk=conversation_id)
        except Conversation.DoesNotExist:
            return  # deleted meanwhile
    if conversation.customer_username:
        return
    try:
        profile = graph.client_for(conversation.account).get_user_profile(conversation.customer_id)
    except (graph.GraphAPIError, EncryptionKeyError) as exc:
        logger.info("No profile for customer %s: %s", conversation.customer_id, exc)
        return
    # Instagram's usernames have at most 30 characters; an answer longer is cut to the column.
    username = profile.username[: Conversation._meta.get_field("customer_username").max_length]
    Conversation.objects.filter(pk=conversation_id).update(customer_username=username)
    hooks.profile_fetched(conversation_id, profile)
