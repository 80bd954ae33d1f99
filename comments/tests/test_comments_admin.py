"""Staff edit comment rules in the admin (picking the post from the account's posts), try a
comment against them, and see every comment with its status."""

import pytest
import responses
from django.contrib.auth.models import Permission, User

from accounts.models import InstagramBusinessAccount
from comments.models import Comment, CommentRule, Post
from comments.tests.conftest import MEDIA_ID, comment_payload, make_rule

pytestmark = pytest.mark.django_db

RULES = "/admin/comments/commentrule/"
TRY = "/admin/comments/commentrule/try/"
MEDIA = "/admin/comments/commentrule/media/"
COMMENTS = "/admin/comments/comment/"


@pytest.fixture
def shop(fake_meta):
    account = InstagramBusinessAccount(instagram_id="17841400000000001", name="Shop", page_id="9")
    account.set_access_token("EAAG-page")
    account.save()
    return account


def rule_form(**fields) -> dict:
    return {
        "keywords": "price",
        "match_type": "contains",
        "scope": "any",
        "media_id": "",
        "private_reply_text": "89 €",
        "public_replies": "Sent you a DM!\nCheck your DMs",
        "priority": "0",
        "is_active": "on",
        **fields,
    }


def test_staff_add_a_rule_for_one_post(admin_client, shop):
    response = admin_client.post(
        f"{RULES}add/", rule_form(account=shop.pk, scope="post", media_id=MEDIA_ID)
    )
    assert response.status_code == 302
    rule = CommentRule.objects.get()
    assert (rule.media_id, rule.public_reply_variants()) == (
        MEDIA_ID,
        ["Sent you a DM!", "Check your DMs"],
    )


def test_a_rule_for_one_post_needs_the_post(admin_client, shop):
    response = admin_client.post(f"{RULES}add/", rule_form(scope="post"))
    assert response.status_code == 200
    assert "Pick the post (or type its id)." in response.content.decode()


def test_a_rule_for_the_next_post_remembers_the_posts_there_are(admin_client, shop):
    admin_client.post(f"{RULES}add/", rule_form(account=shop.pk, scope="next"))
    rule = CommentRule.objects.get()
    assert rule.armed_at is not None
    assert MEDIA_ID in rule.media_known_at_arming
    assert "waiting for the next post" in admin_client.get(RULES).content.decode()


def test_a_rule_for_the_next_post_is_saved_even_when_instagram_fails(admin_client, shop):
    shop.access_token = ""
    shop.save()
    response = admin_client.post(
        f"{RULES}add/", rule_form(account=shop.pk, scope="next"), follow=True
    )
    assert "could not be listed" in response.content.decode()
    assert CommentRule.objects.get().armed_at is not None


def test_the_post_picker_shows_the_accounts_posts(admin_client, shop):
    page = admin_client.get(MEDIA, {"account": shop.pk, "_popup": "1"}).content.decode()
    assert 'data-popup-opener="17895695668004550"' in page
    assert "New winter jackets are in!" in page
    assert "/_fake/thumbnail/17895695668004550.svg" in page


@responses.activate
def test_the_post_picker_links_only_web_addresses(admin_client, shop, settings):
    settings.GRAPH_API_BASE_URL = "https://graph.facebook.com"
    responses.get(
        "https://graph.facebook.com/v21.0/17841400000000001/media",
        json={
            "data": [
                {
                    "id": "1",
                    "caption": "A post whose links are not web addresses",
                    "permalink": "javascript:alert(document.cookie)",
                    "thumbnail_url": "JavaScript:alert(1)",
                }
            ]
        },
    )
    page = admin_client.get(MEDIA, {"account": shop.pk, "_popup": "1"}).content.decode()
    assert "A post whose links are not web addresses" in page
    assert "alert(" not in page
    post = Post.objects.get(media_id="1")  # kept for the inbox without them too
    assert (post.permalink, post.thumbnail_url) == ("", "")


def test_the_rule_form_links_to_the_post_picker(admin_client, shop):
    page = admin_client.get(f"{RULES}add/").content.decode()
    assert 'id="lookup_id_media_id"' in page and MEDIA in page
    assert "comments/media_picker.js" in page


def test_try_a_comment_shows_the_rule_and_its_replies_without_sending(admin_client, fake_meta):
    make_rule(public_replies="Sent you a DM!")
    assert 'id="try-comment"' in admin_client.get(RULES).content.decode()
    page = admin_client.get(TRY, {"text": "PRICE?", "media_id": MEDIA_ID}).content.decode()
    assert "would answer" in page and "89 €" in page and "Sent you a DM!" in page
    page = admin_client.get(TRY, {"text": "nice"}).content.decode()
    assert "No comment rule matches" in page
    assert fake_meta.calls == []


def test_trying_does_not_bind_a_rule_waiting_for_the_next_post(admin_client, shop):
    rule = make_rule(account=shop, scope="next")
    page = admin_client.get(TRY, {"text": "price", "account": shop.pk, "media_id": "42"})
    assert "would answer" in page.content.decode()
    rule.refresh_from_db()
    assert rule.media_id == ""


def test_comments_are_listed_with_their_status(admin_client, deliver):
    make_rule()
    deliver(comment_payload(comment_id="1", text="price?"))
    deliver(comment_payload(comment_id="2", text="lovely"))
    page = admin_client.get(COMMENTS).content.decode()
    assert "Reply queued" in page and "no comment rule matches" in page
    page = admin_client.get(COMMENTS, {"status__exact": "skipped"}).content.decode()
    assert "lovely" in page and "price?" not in page
    detail = admin_client.get(f"{COMMENTS}{Comment.objects.get(comment_id='1').pk}/change/")
    assert "Private reply (DM)" in detail.content.decode()


def test_a_huge_comment_is_shown_in_part(admin_client, deliver):
    # Instagram allows 2,200 characters; a delivery may claim two million.
    deliver(comment_payload(comment_id="1", text="price " + "x" * 2_000_000))
    comment = Comment.objects.get(comment_id="1")
    assert len(comment.text) == 2_000_006  # stored as it came
    detail = admin_client.get(f"{COMMENTS}{comment.pk}/change/").content.decode()
    assert "… and 1995006 more characters." in detail
    assert len(detail) < 100_000
    listing = admin_client.get(COMMENTS).content.decode()
    assert "price " + "x" * 73 + "…" in listing and "x" * 80 not in listing


def test_staff_without_permission_cannot_try_or_pick(client, shop):
    clerk = User.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_comment"))
    client.force_login(clerk)
    assert client.get(TRY, {"text": "price"}).status_code == 403
    assert client.get(MEDIA, {"account": shop.pk}).status_code == 403


def test_a_conversation_that_began_from_a_comment_shows_it(
    admin_client, deliver, run_worker, fake_meta
):
    from messaging.models import Conversation

    make_rule(public_replies="Sent you a DM!")
    deliver(comment_payload(text="price? 😍"))
    run_worker()
    conversation = Conversation.objects.get()
    page = admin_client.get(f"/admin/messaging/conversation/{conversation.pk}/change/")
    html = page.content.decode()
    assert "Began from a comment" in html and "price? 😍" in html
    assert "Replied in public: “Sent you a DM!”" in html
    # The post, as the worker learnt it from Instagram: its link and thumbnail.
    assert 'href="https://www.instagram.com/p/fake4550/"' in html
    assert "/_fake/thumbnail/17895695668004550.svg" in html
