"""Meta's deauthorize and data deletion callbacks: signed_request checked with the secret of
the login it came from; deletion answered at once and done by the worker."""

import base64
import json
from urllib.parse import quote

import pytest
from django.test import Client

from accounts.models import InstagramBusinessAccount
from comments.models import Comment, CommentReply, Mention, MentionReply, Post
from history.models import HistoryImport
from messaging.models import Conversation, Message, WebhookDelivery
from meta.signed_request import sign
from privacy.models import DataDeletionRequest

pytestmark = pytest.mark.django_db

INSTAGRAM_SECRET = "test-instagram-app-secret"
PERSON = "26000000000000001"  # app-scoped: the person who connected the accounts


@pytest.fixture(autouse=True)
def instagram_app(settings):
    settings.INSTAGRAM_APP_SECRET = INSTAGRAM_SECRET


def connected_account(instagram_id="17841400000000001", person=PERSON, api="instagram_login"):
    account = InstagramBusinessAccount(
        instagram_id=instagram_id, name=f"Shop {instagram_id[-3:]}", api=api
    )
    account.set_access_token(f"IGAA-{instagram_id}")
    account.app_scoped_user_id = person
    account.save()
    return account


def signed(secret=INSTAGRAM_SECRET, user_id=PERSON, issued_at=1_700_000_000, **extra):
    payload = {"algorithm": "HMAC-SHA256", "issued_at": issued_at, "user_id": user_id, **extra}
    return sign(payload, secret)


def post(path, value):
    # Meta posts a form with one field (sent raw: "%" escapes arrive as they are).
    body = "signed_request=" + (value if "%" in value else quote(value))
    return Client().post(path, body, content_type="application/x-www-form-urlencoded")


def test_deauthorize_marks_the_persons_accounts_for_reconnect_and_keeps_the_rest():
    mine, other = connected_account(), connected_account("17841400000000002", "26000000000000009")

    answer = post("/meta/deauthorize", signed())

    assert answer.status_code == 200
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.needs_reconnect and "deauthorized" in mine.token_check_result
    assert mine.access_token  # nothing lost but the use of the token
    assert not other.needs_reconnect


def test_a_facebook_login_deauthorize_is_signed_with_the_meta_apps_secret(settings):
    page_account = connected_account(api="facebook_login")
    answer = post("/meta/deauthorize", signed(settings.FACEBOOK_APP_SECRET))
    assert answer.status_code == 200
    page_account.refresh_from_db()
    assert page_account.needs_reconnect


@pytest.mark.parametrize(
    "value",
    [
        "",
        "no-dot-at-all",
        "a.b.c",
        "!!!.???",
        f"{signed().split('.')[0]}.{base64.urlsafe_b64encode(b'{}').decode().rstrip('=')}x",
        "." + signed().split(".")[1],
        "\x00." + signed().split(".")[1],
        "%ED%A0%80.abc",  # a lone surrogate, as raw bytes
        "x" * 100_000,
    ],
    ids=[
        "empty",
        "no-dot",
        "three-parts",
        "not-base64",
        "payload-changed",
        "no-sig",
        "nul",
        "surrogate",
        "huge",
    ],
)
def test_a_malformed_or_forged_signed_request_is_400_and_changes_nothing(value):
    account = connected_account()
    for path in ("/meta/deauthorize", "/meta/data-deletion"):
        assert post(path, value).status_code == 400
    account.refresh_from_db()
    assert not account.needs_reconnect
    assert not DataDeletionRequest.objects.exists()


def test_another_apps_signed_request_is_refused():
    connected_account()
    assert post("/meta/deauthorize", signed("another-apps-secret")).status_code == 400
    assert not InstagramBusinessAccount.objects.get().needs_reconnect


def test_a_signed_payload_that_is_not_ours_to_read_is_refused():
    connected_account()
    for bad in (
        signed(user_id="²³"),
        signed(user_id=None),
        signed(user_id=True),
        signed(issued_at="yesterday"),
        sign({"algorithm": "none", "user_id": PERSON, "issued_at": 1}, INSTAGRAM_SECRET),
        sign([1, 2], INSTAGRAM_SECRET),
    ):
        assert post("/meta/data-deletion", bad).status_code == 400
    assert not DataDeletionRequest.objects.exists()


def test_a_numeric_user_id_is_read():
    connected_account()
    assert post("/meta/deauthorize", signed(user_id=int(PERSON))).status_code == 200
    assert InstagramBusinessAccount.objects.get().needs_reconnect


def fill(account):
    conversation = Conversation.objects.create(
        account=account, instagram_account_id=account.instagram_id, customer_id="17000000000000001"
    )
    Message.objects.create(
        conversation=conversation,
        direction="in",
        author="customer",
        mid=f"m{account.pk}",
        text="hi",
    )
    Comment.objects.create(
        comment_id=f"c{account.pk}",
        instagram_account_id=account.instagram_id,
        account=account,
        author_id="17000000000000001",
        text="price?",
        commented_at="2026-01-01T00:00:00Z",
    )
    HistoryImport.objects.create(account=account)
    comment = Comment.objects.get(comment_id=f"c{account.pk}")
    CommentReply.objects.create(
        comment=comment,
        kind="private",
        instagram_account_id=account.instagram_id,
        account=account,
        commented_at=comment.commented_at,
        text="see DMs",
    )
    Post.objects.create(instagram_account_id=account.instagram_id, account=account, media_id="m")
    mention = Mention.objects.create(
        instagram_account_id=account.instagram_id,
        account=account,
        media_id="m",
        mentioned_at=comment.commented_at,
    )
    MentionReply.objects.create(
        mention=mention, instagram_account_id=account.instagram_id, account=account
    )
    body = json.dumps({"object": "instagram", "entry": [{"id": account.instagram_id}]}).encode()
    WebhookDelivery.objects.create(body=body, state=WebhookDelivery.State.PROCESSED)


def test_data_deletion_answers_at_once_and_the_worker_erases_the_persons_accounts(run_worker):
    mine = connected_account()
    other = connected_account("17841400000000002", "26000000000000009")
    fill(mine)
    fill(other)

    answer = post("/meta/data-deletion", signed())

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"url", "confirmation_code"}
    assert body["url"].endswith(f"/meta/data-deletion/{body['confirmation_code']}")
    status = Client().get(f"/meta/data-deletion/{body['confirmation_code']}")
    assert status.status_code == 200 and b"Pending" in status.content
    assert InstagramBusinessAccount.objects.filter(pk=mine.pk).exists()  # not yet

    run_worker()

    assert not InstagramBusinessAccount.objects.filter(pk=mine.pk).exists()
    assert not Conversation.objects.filter(instagram_account_id=mine.instagram_id).exists()
    assert not Message.objects.filter(conversation__instagram_account_id=mine.instagram_id).exists()
    assert not Comment.objects.filter(instagram_account_id=mine.instagram_id).exists()
    assert not HistoryImport.objects.filter(account_id=mine.pk).exists()
    for model in (CommentReply, Post, Mention, MentionReply):
        assert not model.objects.filter(instagram_account_id=mine.instagram_id).exists()
        assert model.objects.filter(instagram_account_id=other.instagram_id).exists()
    assert WebhookDelivery.objects.count() == 1  # the other account's
    assert Conversation.objects.filter(account=other).count() == 1
    status = Client().get(f"/meta/data-deletion/{body['confirmation_code']}")
    assert b"Erased" in status.content and b"1 conversations" in status.content
    assert b"1 raw deliveries" in status.content


def test_a_redelivered_deletion_request_is_the_same_request(run_worker):
    fill(connected_account())
    value = signed()
    first = post("/meta/data-deletion", value).json()
    second = post("/meta/data-deletion", value).json()
    assert first == second
    assert DataDeletionRequest.objects.count() == 1
    run_worker()
    third = post("/meta/data-deletion", value).json()
    run_worker()
    assert third == first
    assert DataDeletionRequest.objects.get().state == DataDeletionRequest.State.DONE


def test_an_unknown_confirmation_code_is_404():
    assert Client().get("/meta/data-deletion/nope").status_code == 404


def test_the_callbacks_take_only_post():
    assert Client().get("/meta/deauthorize").status_code == 405
    assert Client().get("/meta/data-deletion").status_code == 405


def test_a_deletion_whose_task_was_lost_is_queued_again(run_worker):
    from datetime import timedelta

    from privacy.erasure import requeue_pending_deletions

    fill(connected_account())
    deletion = DataDeletionRequest.objects.create(
        login="instagram_login", app_scoped_user_id=PERSON, issued_at=5
    )  # as if its task never reached the queue
    DataDeletionRequest.objects.filter(pk=deletion.pk).update(
        requested_at=deletion.requested_at - timedelta(hours=2)
    )
    assert requeue_pending_deletions() == 1
    run_worker()
    deletion.refresh_from_db()
    assert deletion.state == DataDeletionRequest.State.DONE
    assert not InstagramBusinessAccount.objects.exists()
