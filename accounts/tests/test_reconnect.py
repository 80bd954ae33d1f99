"""An account whose token Meta refused (190) shows Reconnect; connecting it again puts it back
to work: the replies that failed for its token go out. Webhooks of accounts connected with
Instagram Login are signed with INSTAGRAM_APP_SECRET at the one /webhooks/instagram."""

import pytest
from django.contrib.auth.models import User

from accounts.models import InstagramBusinessAccount
from accounts.tests.connect_helpers import authorize, come_back
from inbox.tests.conftest import dm
from messaging.models import Conversation, Message

pytestmark = pytest.mark.django_db

IG_ID, CUSTOMER = "17841400000000001", "17000000000000555"


@pytest.fixture
def owner_client(client):
    user = User.objects.create_user("owner", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def dm_to(account_id, mid, text="hello"):
    return dm(account_id, CUSTOMER, mid, text)


def test_a_190_shows_reconnect_and_reconnecting_sends_what_waited(
    fake_meta, owner_client, deliver, run_worker, settings
):
    settings.INSTAGRAM_PAGE_ACCESS_TOKEN = ""
    come_back(owner_client, "instagram_login", authorize(owner_client, "instagram_login"))
    account = InstagramBusinessAccount.objects.get()

    # Meta stops accepting the token: the bot's answer fails with 190.
    fake_meta.fail_next("invalid_token")
    assert (
        deliver(dm_to(IG_ID, "mid.before"), secret=settings.INSTAGRAM_APP_SECRET).status_code == 200
    )
    run_worker()
    account.refresh_from_db()
    assert account.needs_reconnect
    reply = Message.objects.get(direction="out")
    assert reply.status == Message.Status.FAILED

    page = owner_client.get("/admin/accounts/instagrambusinessaccount/")
    assert b"Reconnect" in page.content
    assert b"Reconnect" in owner_client.get("/inbox/").content

    come_back(owner_client, "instagram_login", authorize(owner_client, "instagram_login"))
    run_worker()

    account.refresh_from_db()
    assert not account.needs_reconnect
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT
    assert b"Reconnect" not in owner_client.get("/inbox/").content
    assert Conversation.objects.count() == 1


def test_instagram_login_webhooks_are_signed_with_the_instagram_app_secret(
    fake_meta, owner_client, deliver, settings
):
    settings.INSTAGRAM_PAGE_ACCESS_TOKEN = ""
    come_back(owner_client, "instagram_login", authorize(owner_client, "instagram_login"))

    signed_by_instagram = deliver(dm_to(IG_ID, "mid.ig"), secret=settings.INSTAGRAM_APP_SECRET)
    assert signed_by_instagram.status_code == 200
    assert Message.objects.filter(mid="mid.ig").exists()

    # The Meta app's secret is not this account's: kept raw, never handled for it.
    assert deliver(dm_to(IG_ID, "mid.fb")).status_code == 200
    assert not Message.objects.filter(mid="mid.fb").exists()
    assert deliver(dm_to(IG_ID, "mid.x"), secret="nobodys-secret").status_code == 401


def test_no_account_yet_offers_connect_in_the_inbox_and_the_admin(owner_client):
    inbox = owner_client.get("/inbox/")
    assert b"Connect an Instagram account" in inbox.content
    admin_list = owner_client.get("/admin/accounts/instagrambusinessaccount/")
    assert b"Connect an Instagram account" in admin_list.content
    assert owner_client.get("/accounts/connect/").status_code == 200


def test_reconnecting_resends_only_what_failed_for_the_token_in_the_last_week():
    from datetime import timedelta

    from django.utils import timezone

    from accounts.signals import account_reconnected

    account = InstagramBusinessAccount(instagram_id=IG_ID, name="Shop")
    account.set_access_token("IGAA-old")
    account.save()
    conversation = Conversation.objects.create(
        account=account, instagram_account_id=IG_ID, customer_id=CUSTOMER
    )

    def failed(text, error, age=timedelta(0)):
        message = Message.objects.create(
            conversation=conversation,
            direction="out",
            author="bot",
            text=text,
            status=Message.Status.FAILED,
            last_error=error,
        )
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - age)
        return message

    token = failed("a", "invalid access token: Graph API error 190 (HTTP 400): expired")
    waited = failed(
        "b", "not sent: the account's access token is invalid since 2026-12-06 10:00 UTC"
    )
    other = failed("c", "Graph API error 100 (HTTP 400): no matching user")
    old = failed("d", "invalid access token: expired", age=timedelta(days=8))

    account_reconnected.send(
        sender=InstagramBusinessAccount, account=account, invalid_since=timezone.now()
    )

    statuses = {m.text: m.status for m in Message.objects.all()}
    assert statuses == {
        token.text: Message.Status.QUEUED,
        waited.text: Message.Status.QUEUED,
        other.text: Message.Status.FAILED,
        old.text: Message.Status.FAILED,
    }


def test_reconnecting_resends_every_kind_of_send_its_token_stopped():
    """Not only DMs: a private reply to a comment that failed on the token goes out too."""
    from django.utils import timezone

    from accounts.signals import account_reconnected
    from comments.models import Comment, CommentReply

    account = InstagramBusinessAccount(instagram_id=IG_ID, name="Shop")
    account.set_access_token("IGAA-old")
    account.save()
    comment = Comment.objects.create(
        comment_id="c-1",
        instagram_account_id=IG_ID,
        account=account,
        author_id=CUSTOMER,
        text="price?",
        commented_at=timezone.now(),
    )
    reply = CommentReply.objects.create(
        comment=comment,
        kind=CommentReply.Kind.PRIVATE,
        instagram_account_id=IG_ID,
        account=account,
        commented_at=comment.commented_at,
        text="Sent you a DM",
        status=CommentReply.Status.FAILED,
        last_error="invalid access token: Graph API error 190 (HTTP 400): expired",
    )

    account_reconnected.send(
        sender=InstagramBusinessAccount, account=account, invalid_since=timezone.now()
    )

    reply.refresh_from_db()
    assert (reply.status, reply.last_error) == (CommentReply.Status.QUEUED, "")
    assert reply.due_at <= timezone.now()


def test_the_api_says_which_accounts_need_reconnecting(admin_user):
    from django.utils import timezone
    from rest_framework.test import APIClient

    account = InstagramBusinessAccount(instagram_id=IG_ID, name="Shop")
    account.set_access_token("IGAA-old")
    account.save()
    api = APIClient()
    api.force_authenticate(admin_user)
    assert api.get(f"/api/accounts/{account.pk}/").json()["needs_reconnect"] is False

    InstagramBusinessAccount.objects.filter(pk=account.pk).update(
        token_invalid_since=timezone.now()
    )
    data = api.get(f"/api/accounts/{account.pk}/").json()
    assert data["needs_reconnect"] is True
    assert data["granted_permissions"] == [] and data["connected_at"] is None
