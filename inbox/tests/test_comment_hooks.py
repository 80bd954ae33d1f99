"""What the comments app adds to the inbox: a conversation begun by a private reply to a
comment says so beside the thread, and the dashboard counts the comments answered."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comments.models import Comment, CommentReply, Post
from comments.tests.conftest import (
    MEDIA_ID,
    comment_payload,
    fake_meta,  # noqa: F401  (a fixture)
    make_rule,
)
from inbox.tests.conftest import SHOP_A_ID, dm, staff
from messaging.models import Conversation

pytestmark = pytest.mark.django_db


def card_of(client, conversation) -> dict:
    response = client.get(f"/inbox/c/{conversation.pk}")
    assert response.status_code == 200
    return response.json()["customer"]


def test_a_conversation_begun_by_a_private_reply_shows_the_comment_and_its_post(
    admin_client,
    deliver,
    fake_meta,  # noqa: F811  (the fixture)
    run_worker,
):
    make_rule()
    deliver(comment_payload(text="Price please?"))
    run_worker()
    Post.objects.update_or_create(
        instagram_account_id=SHOP_A_ID,
        media_id=MEDIA_ID,
        defaults={
            "caption": "The blue jacket",
            "permalink": "https://www.instagram.com/p/abc/",
            "thumbnail_url": "https://cdn.example/abc.jpg",
        },
    )
    Comment.objects.update(post=Post.objects.get())

    CommentReply.objects.create(
        comment=Comment.objects.get(),
        kind=CommentReply.Kind.PUBLIC,
        instagram_account_id=SHOP_A_ID,
        commented_at=timezone.now(),
        text="Sent you a DM 📩",
        status=CommentReply.Status.SENT,
    )

    card = card_of(admin_client, Conversation.objects.get())
    assert card["origin"] == "a comment on “The blue jacket”"
    assert card["comment"]["text"] == "Price please?"
    assert card["comment"]["public_reply"] == {"text": "Sent you a DM 📩", "status": "Sent"}
    assert card["comment"]["permalink"] == "https://www.instagram.com/p/abc/"
    assert card["comment"]["thumbnail_url"] == "https://cdn.example/abc.jpg"


def test_a_post_not_yet_known_is_named_by_its_id_and_unsafe_links_are_dropped(
    admin_client,
    deliver,
    fake_meta,  # noqa: F811  (the fixture)
    run_worker,
):
    make_rule()
    deliver(comment_payload())
    run_worker()
    post, _ = Post.objects.update_or_create(
        instagram_account_id=SHOP_A_ID,
        media_id=MEDIA_ID,
        defaults={"caption": "", "permalink": "javascript:alert(1)"},
    )
    Comment.objects.update(post=post)
    card = card_of(admin_client, Conversation.objects.get())
    assert card["origin"] == f"a comment on post {MEDIA_ID}"
    assert card["comment"]["permalink"] == ""


def test_a_conversation_the_customer_began_has_no_comment(admin_client, deliver):
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    card = card_of(admin_client, Conversation.objects.get())
    assert (card["origin"], card["comment"]) == ("", None)


def test_the_customer_card_costs_the_same_queries_with_or_without_a_comment(
    admin_client,
    deliver,
    fake_meta,  # noqa: F811  (the fixture)
    run_worker,
):
    def queries(conversation):
        with CaptureQueriesContext(connection) as captured:
            card_of(admin_client, conversation)
        return len(captured)

    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    plain = queries(Conversation.objects.get(customer_id="100"))
    make_rule()
    deliver(comment_payload())
    run_worker()
    began_by_comment = Conversation.objects.exclude(customer_id="100").get()
    # The opening comment and its post: one query more, whatever the conversation's length.
    assert queries(began_by_comment) <= plain + 1


def answered(account, kind, status=CommentReply.Status.SENT, *, n=1):
    now = timezone.now()
    for _ in range(n):
        comment = Comment.objects.create(
            comment_id=f"c-{Comment.objects.count()}",
            instagram_account_id=account.instagram_id,
            account=account,
            author_id="42",
            commented_at=now,
        )
        CommentReply.objects.create(
            comment=comment,
            kind=kind,
            instagram_account_id=account.instagram_id,
            account=account,
            commented_at=now,
            text="Thanks!",
            status=status,
            sent_at=now if status == CommentReply.Status.SENT else None,
        )


@pytest.fixture
def comments_answered(shop_a, shop_b):
    answered(shop_a, CommentReply.Kind.PRIVATE, n=2)
    answered(shop_a, CommentReply.Kind.PUBLIC)
    answered(shop_a, CommentReply.Kind.PRIVATE, CommentReply.Status.FAILED)
    answered(shop_b, CommentReply.Kind.PUBLIC, n=3)


def test_the_dashboard_counts_comments_answered_per_account_and_day(
    admin_client, comments_answered, shop_a
):
    figures = admin_client.get("/api/stats/", {"account": shop_a.pk}).json()
    (row,) = figures["rows"]
    assert row["day"] == timezone.now().date().isoformat()
    assert (row["comments_answered_privately"], row["comments_answered_publicly"]) == (2, 1)
    assert figures["comments_answered"] == {"privately": 2, "publicly": 1}
    everyone = admin_client.get("/api/stats/").json()["comments_answered"]
    assert everyone == {"privately": 2, "publicly": 4}


def test_a_limited_user_counts_only_their_accounts_comments(client, comments_answered, shop_b):
    client.force_login(staff("limited", shop_b))
    figures = client.get("/api/stats/").json()
    assert figures["comments_answered"] == {"privately": 0, "publicly": 3}
    assert {row["account"] for row in figures["rows"]} == {"Bravo (@bravo)"}


def test_the_csv_and_the_page_show_comments_answered(admin_client, comments_answered, shop_a):
    response = admin_client.get("/inbox/stats.csv", {"account": shop_a.pk})
    (row,) = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert (row["comments_answered_privately"], row["comments_answered_publicly"]) == ("2", "1")
    page = admin_client.get("/inbox/stats/").content.decode()
    assert "Comments answered per day" in page
