"""Mention rules and mentions in a real browser: staff add a rule answering @mentions, try a
mention, and see each mention with what was replied (Playwright drives Debian's Chromium on the
live server). Screenshots at desktop and phone widths land in test-artifacts/."""

import pytest

from comments.models import CommentRule, Mention
from comments.tests.test_comments_browser import log_in, shoot
from comments.tests.test_mentions import mention_payload, mentioned
from messaging.tests.test_inbox_browser import screenshot_on_failure

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_staff_add_a_mention_rule_and_see_the_mentions_it_answered(
    browser_page, live_server, fake_meta, deliver, run_worker
):
    page = browser_page
    with screenshot_on_failure(page, "comments-mention-rule"):
        log_in(page, live_server, "/admin/comments/commentrule/add/")
        page.select_option("#id_scope", "mention")
        page.fill("#id_public_replies", "Thanks for the mention! 💛\nMerci ! 💛")
        shoot(page, "mention-rule-form")
        page.click("input[name=_save]")
        page.get_by_text("was added successfully").wait_for()
        page.locator("td.field-scope", has_text="@mentioned").wait_for()
        page.fill("#try-comment textarea", "Love this jacket @fake.business")
        page.check("#id_mention")
        page.click("#try-comment input[type=submit]")
        page.locator("#try-outcome").get_by_text("(any mention)").wait_for()
        shoot(page, "mention-try")

        mentioned(fake_meta, text="Love this jacket @fake.business", username="jacket.fan")
        deliver(mention_payload())
        deliver(mention_payload(comment_id="17894227972186199"))  # Meta does not know it
        run_worker()
        page.goto(f"{live_server.url}/admin/comments/mention/")
        page.locator("td.field-answered", has_text="Answered publicly").wait_for()
        shoot(page, "mentions")
        answered = Mention.objects.get(comment_id="17894227972186120")
        page.goto(f"{live_server.url}/admin/comments/mention/{answered.pk}/change/")
        page.get_by_text("Thanks for the mention!").or_(page.get_by_text("Merci !")).wait_for()
        shoot(page, "mention")
    assert CommentRule.objects.get().scope == CommentRule.Scope.MENTION
