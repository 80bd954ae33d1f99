"""What staff see of flows, in a real browser (Debian's Chromium) at 1280 and 390 px: a rule's
flow actions and A/B variants on its admin page, and the dashboard's comparison of variants."""

import pytest
from django.contrib.auth.models import User

from contacts.models import Contact, ContactField, ReplyVariant, RuleAction, VariantSent
from inbox.tests.test_inbox_browser import browser, new_page, screenshot  # noqa: F401
from messaging.models import Conversation
from rules.models import ResponseRule

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def log_in_admin(page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-123")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def test_the_contacts_list_and_its_import_as_staff_see_them(browser, live_server):  # noqa: F811
    User.objects.create_superuser("boss", password="pw-boss-123")
    city = ContactField.objects.create(key="city", label="City")
    for n, (name, source) in enumerate([("ana", "ad"), ("bo", "link"), ("cy", "comment")]):
        conversation = Conversation.objects.create(
            instagram_account_id="17841400000000001",
            customer_id=f"10{n}",
            customer_username=name,
        )
        contact = Contact.objects.create(
            conversation=conversation, source=source, name=name.title()
        )
        contact.values.create(field=city, value="Lyon")
    for width in (1280, 390):
        page = new_page(browser, width)
        log_in_admin(page, live_server)
        page.goto(f"{live_server.url}/admin/contacts/contact/")
        page.get_by_text("@ana").wait_for()
        screenshot(page, f"admin-contacts-{width}")
        page.get_by_text("Import from CSV").click()
        page.set_input_files(
            "#id_file",
            files=[
                {
                    "name": "contacts.csv",
                    "mimeType": "text/csv",
                    "buffer": b"account,customer_id,tags\n17841400000000001,100,vip\n1,999,x\n",
                }
            ],
        )
        page.click("input[type=submit]")
        page.get_by_text("Skipped rows").wait_for()
        screenshot(page, f"admin-contacts-import-{width}")
        # A file that is not one: refused whole, saying why, under the file box.
        page.set_input_files(
            "#id_file",
            files=[
                {
                    "name": "contacts.csv",
                    "mimeType": "text/csv",
                    "buffer": b"account,customer_id,colour\n17841400000000001,100,red\n",
                }
            ],
        )
        page.click("input[type=submit]")
        page.locator(".errorlist", has_text="Unknown columns").wait_for()
        screenshot(page, f"admin-contacts-import-refused-{width}")


def test_a_rules_flow_and_the_ab_comparison_as_staff_see_them(browser, live_server):  # noqa: F811
    User.objects.create_superuser("boss", password="pw-boss-123")
    email = ContactField.objects.create(key="email", label="Email", kind="email")
    thanks = ResponseRule.objects.create(
        trigger="payload", payload="SUBSCRIBED", response_text="Thanks, you're on the list!"
    )
    ask = ResponseRule.objects.create(keywords="newsletter", response_text="What's your email?")
    RuleAction.objects.create(rule=ask, kind="add_tag", tag="newsletter")
    RuleAction.objects.create(
        rule=ask,
        kind="ask",
        position=1,
        field=email,
        retry_text="That doesn't look like an email. Could you check it?",
        then_rule=thanks,
    )
    a = ReplyVariant.objects.create(rule=ask, label="A", text="What's your email?", weight=3)
    b = ReplyVariant.objects.create(rule=ask, label="B", text="Where shall we write to you?")
    conversation = Conversation.objects.create(instagram_account_id="1", customer_id="2")
    contact = Contact.objects.create(conversation=conversation)
    for variant, tapped, replied in [(a, True, False), (a, False, True), (b, False, False)]:
        VariantSent.objects.create(variant=variant, contact=contact, tapped=tapped, replied=replied)

    for width in (1280, 390):
        page = new_page(browser, width)
        log_in_admin(page, live_server)
        page.goto(f"{live_server.url}/admin/rules/responserule/{ask.pk}/change/")
        page.get_by_text("A/B variants of the text").wait_for()
        page.locator("#actions-group").scroll_into_view_if_needed()
        screenshot(page, f"rule-flow-actions-{width}")
        page.goto(f"{live_server.url}/inbox/stats/")
        page.get_by_text("A/B variants").wait_for()
        page.locator("text=A/B variants").scroll_into_view_if_needed()
        screenshot(page, f"dashboard-ab-{width}")
