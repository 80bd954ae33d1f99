"""Ids in /api/ paths are ASCII digits: a Unicode digit (int() reads "\u0661" as 1) is a 404,
never an action on the object whose ASCII id it resembles."""

import pytest
from django.core.management.color import no_style
from django.db import connection
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from comments.models import Comment, CommentRule
from inbox.models import SavedReply
from messaging.models import Conversation, Message
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

ARABIC_INDIC_ONE, FULLWIDTH_NINE = "\u0661", "\uff19"


@pytest.fixture
def objects():
    account = InstagramBusinessAccount(pk=1, instagram_id="17841400000000001", name="Shop")
    account.set_access_token("EAAG-shop-token")
    account.save()
    conversation = Conversation.objects.create(
        pk=9,
        instagram_account_id="17841400000000001",
        customer_id="1234567890123456",
        account=account,
        last_message_at=timezone.now(),
    )
    Message.objects.create(
        pk=1,
        conversation=conversation,
        direction=Message.Direction.INCOMING,
        author=Message.Author.CUSTOMER,
        mid="m-1",
        text="hello",
        timestamp=timezone.now(),
    )
    ResponseRule.objects.create(pk=1, keywords="hours", response_text="10-19")
    CommentRule.objects.create(pk=1, keywords="price", public_replies="Sent you a DM")
    Comment.objects.create(
        pk=1,
        comment_id="17900000000000001",
        instagram_account_id="17841400000000001",
        author_id="1234567890123456",
        commented_at=timezone.now(),
    )
    SavedReply.objects.create(pk=1, shortcut="hours", text="10-19")
    # Rows made with chosen ids: the next ones the database gives must come after them.
    models = [InstagramBusinessAccount, Conversation, Message, ResponseRule, CommentRule, Comment]
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [*models, SavedReply]):
            cursor.execute(statement)


@pytest.mark.parametrize(
    "method, path, data",
    [
        ("get", "/api/accounts/{one}/", None),
        ("post", "/api/accounts/{one}/deactivate/", None),
        ("get", "/api/conversations/{nine}/", None),
        ("post", "/api/conversations/{nine}/reply/", {"text": "hi"}),
        ("get", "/api/messages/{one}/", None),
        ("get", "/api/rules/{one}/", None),
        ("delete", "/api/rules/{one}/", None),
        ("get", "/api/comment-rules/{one}/", None),
        ("get", "/api/comments/{one}/", None),
        ("get", "/api/saved-replies/{one}/", None),
        ("patch", "/api/saved-replies/{one}/", {"text": "changed"}),
    ],
)
def test_a_unicode_digit_in_an_api_path_is_404_and_changes_nothing(
    api, objects, method, path, data
):
    url = path.format(one=ARABIC_INDIC_ONE, nine=FULLWIDTH_NINE)
    response = getattr(api, method)(url, data, format="json")

    assert response.status_code == 404
    assert InstagramBusinessAccount.objects.get(pk=1).is_active
    assert ResponseRule.objects.filter(pk=1).exists()
    assert SavedReply.objects.get(pk=1).text == "10-19"
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/accounts/1/",
        "/api/conversations/9/",
        "/api/messages/1/",
        "/api/rules/1/",
        "/api/comment-rules/1/",
        "/api/comments/1/",
        "/api/saved-replies/1/",
    ],
)
def test_an_ascii_id_in_an_api_path_still_finds_its_object(api, objects, path):
    assert api.get(path).status_code == 200


@pytest.mark.parametrize(
    "path, data, field",
    [
        ("/api/rules/", {"priority": ARABIC_INDIC_ONE}, "priority"),
        ("/api/rules/", {"priority": FULLWIDTH_NINE}, "priority"),
        ("/api/rules/", {"account": ARABIC_INDIC_ONE}, "account"),
        ("/api/comment-rules/", {"priority": ARABIC_INDIC_ONE}, "priority"),
        ("/api/saved-replies/", {"account": ARABIC_INDIC_ONE}, "account"),
    ],
)
def test_a_unicode_digit_in_an_integer_or_id_field_is_400(api, objects, path, data, field):
    body = {"keywords": "price", "response_text": "10 euros", "private_reply_text": "A DM"}
    body |= {"shortcut": "price", "text": "10 euros"} | data
    response = api.post(path, body, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_a_unicode_digit_in_an_accounts_send_rate_is_400(api, objects):
    response = api.patch(
        "/api/accounts/1/", {"max_sends_per_second": ARABIC_INDIC_ONE}, format="json"
    )
    assert response.status_code == 400
    assert InstagramBusinessAccount.objects.get(pk=1).max_sends_per_second is None


def test_ascii_digits_in_integer_and_id_fields_are_taken(api, objects):
    response = api.post(
        "/api/rules/",
        {"keywords": "price", "response_text": "10 euros", "priority": "3", "account": "1"},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["priority"], response.json()["account"]) == (3, 1)
