"""The admin's lists answer only the filters they show: a crafted lookup in a list's URL is a
400, never a hung process or a 500; an id that cannot be one is a 404."""

import pytest

from messaging.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/admin/messaging/message/?text__regex=%5E(x%2Bx%2B)%2By",
        "/admin/messaging/message/?mid__regex=%5B",
        "/admin/messaging/message/?details__contains=x",
        "/admin/messaging/message/?attachments__contains=%7B%7D",
        "/admin/messaging/message/?timestamp__year=99999999999999999999",
        "/admin/messaging/message/?id__range=1",
        "/admin/messaging/webhookdelivery/?error__regex=(",
        "/admin/messaging/webhookdelivery/?received_at__year=99999999999999999999",
        "/admin/accounts/instagrambusinessaccount/?app_secret__regex=%5B",
        "/admin/rules/responserule/?response_text__iregex=(",
        "/admin/comments/comment/?text__regex=(",
    ],
)
def test_a_lookup_the_list_does_not_offer_is_refused(admin_client, url):
    assert admin_client.get(url).status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/admin/messaging/message/?status__exact=failed",
        "/admin/messaging/message/?direction__exact=in&author__exact=customer",
        "/admin/messaging/conversation/?status__exact=active",
        "/admin/messaging/webhookdelivery/?received_at__year=2026&received_at__month=11",
        "/admin/rules/responserule/?is_active__exact=1",
    ],
)
def test_the_lists_own_filters_still_work(admin_client, url):
    assert admin_client.get(url).status_code == 200


@pytest.mark.parametrize("pk", ["abc", "1.5", "%00", "%ED%A0%80", "9" * 5000, "٣"])
def test_a_conversation_id_that_cannot_be_one_is_not_found(admin_client, pk):
    Conversation.objects.create(instagram_account_id="1", customer_id="2")
    for page in ("", "change/"):
        assert admin_client.get(f"/admin/messaging/conversation/{pk}/{page}").status_code in (
            302,  # Django's own "doesn't exist" redirect, as for a missing id
            404,
            400,  # a NUL in the URL (instabot.middleware)
        )
    # Digits, but more than any id of ours can have.
    thread = admin_client.get(f"/admin/messaging/conversation/{'9' * 30}/thread/")
    assert thread.status_code == 404
