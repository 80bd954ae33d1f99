from datetime import timedelta

import pytest
from django.utils import timezone

from broadcasts.models import Broadcast
from contacts.editing import tag_named
from contacts.models import Contact, ContactTag
from inbox.tests.conftest import SHOP_B_ID, make_account
from messaging.models import Conversation, Message
from messaging.tests.conftest import ACCOUNT_ID, graph_api, run_worker  # noqa: F401  (fixtures)


def make_contact(account, customer: str, *, wrote_ago: timedelta | None, tags=(), **fields):
    """A contact whose last message came `wrote_ago` (None: never wrote)."""
    conversation = Conversation.objects.create(
        instagram_account_id=account.instagram_id,
        account=account,
        customer_id=customer,
        customer_username=f"user{customer}",
    )
    contact = Contact.objects.create(conversation=conversation, **fields)
    if wrote_ago is not None:
        Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.INCOMING,
            author=Message.Author.CUSTOMER,
            mid=f"m_{customer}",
            text="hi",
            timestamp=timezone.now() - wrote_ago,
        )
    for name in tags:
        ContactTag.objects.create(contact=contact, tag=tag_named(account.pk, name))
    return contact


@pytest.fixture
def shops(db):
    return make_account(ACCOUNT_ID, "Alpha"), make_account(SHOP_B_ID, "Bravo")


@pytest.fixture
def mixed_segment(shops):
    """Shop A's VIPs: two with the window open, one closed, one who never wrote, one opted
    out; a non-VIP with the window open; a VIP of shop B."""
    shop, other = shops
    hour, days = timedelta(hours=1), timedelta(days=3)
    return {
        "open": [
            make_contact(shop, "2001", wrote_ago=hour, tags=["vip"]),
            make_contact(shop, "2002", wrote_ago=timedelta(hours=23), tags=["vip"]),
        ],
        "closed": make_contact(shop, "2003", wrote_ago=days, tags=["vip"]),
        "never": make_contact(shop, "2004", wrote_ago=None, tags=["vip"]),
        "opted_out": make_contact(
            shop, "2005", wrote_ago=hour, tags=["vip"], opted_out_at=timezone.now()
        ),
        "not_vip": make_contact(shop, "2006", wrote_ago=hour),
        "other_shop": make_contact(other, "2007", wrote_ago=hour, tags=["vip"]),
    }


@pytest.fixture
def vip_broadcast(shops):
    return Broadcast.objects.create(
        account=shops[0], name="Winter sale", text="Winter sale: 20% off today", segment="tag=vip"
    )
