"""In a real browser: the customer pane of a conversation begun by a private reply to a
comment shows the comment and its post (Playwright, Debian's Chromium, the live server)."""

import pytest

from comments.models import Comment, Post
from comments.tests.conftest import MEDIA_ID, comment_payload, make_rule
from inbox.tests.conftest import SHOP_A_ID, staff
from inbox.tests.test_inbox_browser import (  # noqa: F401  (fixtures)
    browser,
    fake_graph,
    log_in,
    new_page,
    screenshot,
    screenshot_on_failure,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_customer_pane_shows_the_comment_a_conversation_began_from(
    browser,  # noqa: F811
    live_server,
    deliver,
    fake_graph,  # noqa: F811
    run_worker,
    settings,
    shop_a,
):
    settings.INSTAGRAM_GRAPH_API_BASE_URL = fake_graph.base_url
    staff("alice", shop_a)
    make_rule()
    deliver(comment_payload(text="Price of the blue jacket in M? 😍"))
    run_worker()
    Post.objects.update_or_create(
        instagram_account_id=SHOP_A_ID,
        media_id=MEDIA_ID,
        defaults={
            "caption": "The blue jacket is back, in every size",
            "permalink": "https://www.instagram.com/p/abc/",
            # Meta's CDN is out of reach here: a picture the live server serves.
            "thumbnail_url": f"{live_server.url}/static/admin/img/icon-yes.svg",
        },
    )
    Comment.objects.update(post=Post.objects.get())

    for width, height in ((1280, 900), (390, 844)):
        page = new_page(browser, width, height)
        with screenshot_on_failure(page, f"inbox-comment-{width}"):
            log_in(page, live_server, "alice")
            page.locator("a.conversation").first.click()
            if width < 600:
                page.click("button.info")
            page.locator("#customer-comment blockquote").wait_for()
            page.wait_for_function(
                "document.querySelector('#customer-comment img')?.naturalWidth > 0"
            )
            assert "Price of the blue jacket" in page.inner_text("#customer-comment")
            assert "a comment on" in page.inner_text("#customer-origin")
            screenshot(page, f"inbox-comment-{width}")
        page.close()
