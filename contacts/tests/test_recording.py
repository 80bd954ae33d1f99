"""A contact per customer, kept up to date as their messages arrive."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Contact
from contacts.tests.conftest import CUSTOMER, dm
from messaging import profiles
from messaging.models import Conversation

pytestmark = pytest.mark.django_db


def test_a_new_customer_gets_a_contact_seen_now(shop, deliver):
    deliver(dm("hello", "aWdfZAG1first"))
    contact = Contact.objects.get()
    conversation = Conversation.objects.get()
    assert contact.conversation == conversation
    assert contact.source == Contact.Source.DM
    assert contact.first_seen_at == contact.last_seen_at
    assert timezone.now() - contact.last_seen_at < timedelta(minutes=1)


def test_a_returning_customer_moves_last_seen_forward_never_back(shop, deliver):
    first_dm = dm("hello", "aWdfZAG1first")
    at = first_dm["entry"][0]["messaging"][0]["timestamp"]
    deliver(first_dm)
    first = Contact.objects.get()
    later = dm("again", "aWdfZAG1second")
    later["entry"][0]["messaging"][0]["timestamp"] = at + 60_000
    deliver(later)
    moved = Contact.objects.get()
    assert moved.last_seen_at - first.last_seen_at == timedelta(minutes=1)
    earlier = dm("late delivery", "aWdfZAG1third")
    earlier["entry"][0]["messaging"][0]["timestamp"] = at - 60_000
    deliver(earlier)
    assert Contact.objects.get().last_seen_at == moved.last_seen_at
    assert Contact.objects.get().first_seen_at == first.first_seen_at


def test_a_customer_from_an_ad_has_the_ad_as_source(shop, deliver):
    deliver(dm("I saw your ad", "aWdfZAG1ad", payload="messages__referral"))
    contact = Contact.objects.get()
    assert (contact.source, contact.source_ref) == ("ad", "23850000000000000")


def test_a_story_reply_is_the_source(shop, deliver):
    deliver(dm("nice", "aWdfZAG1story", payload="messages__story_reply"))
    assert Contact.objects.get().source == "story"


def test_a_conversation_without_a_contact_gets_one_from_its_next_message(shop, deliver):
    deliver(dm("hello", "aWdfZAG1first"))
    Contact.objects.all().delete()  # as for a conversation begun before contacts existed
    deliver(dm("again", "aWdfZAG1second"))
    assert Contact.objects.get().source == "dm"


def test_stop_opts_the_contact_out_and_start_back_in(shop, deliver):
    deliver(dm("hello", "aWdfZAG1first"))
    deliver(dm(" STOP ", "aWdfZAG1stop"))
    assert Contact.objects.get().opted_out
    deliver(dm("stop it, what is the price?", "aWdfZAG1not"))
    assert Contact.objects.get().opted_out  # only the word alone counts
    deliver(dm("Start", "aWdfZAG1start"))
    assert not Contact.objects.get().opted_out


def test_the_name_comes_from_instagrams_profile(shop, deliver, graph_api):
    deliver(dm("hello", "aWdfZAG1first"))
    profiles.fetch_missing_usernames()
    contact = Contact.objects.select_related("conversation").get()
    assert (contact.username, contact.name) == ("jacket.fan", "Jacket Fan")
    assert str(contact) == f"@jacket.fan ↔ {shop.instagram_id}"


def test_existing_conversations_get_contacts_when_migrating(shop):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("contacts.migrations.0002_contacts_for_existing_conversations")
    conversation = Conversation.objects.create(
        instagram_account_id=shop.instagram_id, customer_id=CUSTOMER, account=shop
    )
    migration.contacts_for_existing_conversations(apps, None)
    assert Contact.objects.get().conversation == conversation


def test_a_customer_answering_a_comments_private_reply_came_from_the_comment(shop, deliver):
    from messaging.models import Message

    conversation = Conversation.objects.create(
        instagram_account_id=shop.instagram_id, customer_id=CUSTOMER, account=shop
    )
    Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUTGOING,
        author=Message.Author.BOT,
        text="Thanks for your comment! Here is the price.",
        status=Message.Status.SENT,
        details={"private_reply_to_comment": "17900000000000001"},
    )
    deliver(dm("how much with shipping?", "aWdfZAG1after-comment"))
    contact = Contact.objects.get()
    assert (contact.source, contact.source_ref) == ("comment", "17900000000000001")
