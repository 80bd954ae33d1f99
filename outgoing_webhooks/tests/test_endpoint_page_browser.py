"""The outgoing webhook's admin page in a real browser (Debian's Chromium): staff register an
endpoint and see its signing secret once; later its page lists the last answers and says why
it was disabled. At 1280 and 390 px."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from inbox.tests.conftest import staff
from inbox.tests.test_inbox_browser import (  # noqa: F401  (fixtures)
    browser,
    log_in,
    new_page,
    screenshot,
    screenshot_on_failure,
)
from messaging.models import OutboxStatus
from outgoing_webhooks.models import EndpointDelivery, WebhookEndpoint
from outgoing_webhooks.tests.conftest import HOOK_URL

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PAGES = "/admin/outgoing_webhooks/webhookendpoint/"


def register(page, live_server, account, url):
    page.goto(f"{live_server.url}{PAGES}add/")
    page.select_option("#id_account", str(account.pk))
    page.fill("#id_url", url)
    for event in ("contact.created", "contact.tag_added", "conversation.needs_reply"):
        page.check(f"input[name=events][value='{event}']")
    page.click("input[name=_continue]")
    return page.locator("#endpoint-secret").inner_text()


def a_day_of_answers(endpoint):
    now = timezone.now()
    answers = [
        ("contact.created", OutboxStatus.SENT, 200, '{"ok": true}', ""),
        ("contact.tag_added", OutboxStatus.SENT, 200, '{"ok": true}', ""),
        ("contact.tag_added", OutboxStatus.QUEUED, 502, "Bad gateway", "the endpoint answered 502"),
        ("conversation.needs_reply", OutboxStatus.FAILED, 500, "Internal error", "failed"),
        ("contact.created", OutboxStatus.FAILED, None, "ConnectTimeout: timed out", "no answer"),
    ]
    for minutes, (event, status, code, body, error) in enumerate(answers):
        EndpointDelivery.objects.create(
            endpoint=endpoint,
            event=event,
            payload={"conversation": 12, "customer_id": "1001"},
            status=status,
            created_at=now - timedelta(hours=25) + timedelta(minutes=minutes * 90),
            answer_status=code,
            answer_body=body,
            answered_at=now,
            last_error=error,
        )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False,
        failing_since=now - timedelta(hours=24, minutes=5),
        disabled_reason=(
            f"Disabled at {now:%Y-%m-%d %H:%M} UTC: every delivery failed since "
            f"{now - timedelta(hours=24, minutes=5):%Y-%m-%d %H:%M} UTC. "
            "Last error: no answer: ConnectTimeout"
        ),
    )


def test_staff_see_the_secret_once_then_the_last_answers(browser, live_server, shops):  # noqa: F811
    alice = staff("alice", shops[0])
    alice.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="outgoing_webhooks")
    )
    page = new_page(browser, 1280)
    with screenshot_on_failure(page, "webhook-endpoint"):
        log_in(page, live_server, "alice")
        secret = register(page, live_server, shops[0], HOOK_URL)
        endpoint = WebhookEndpoint.objects.get()
        assert secret == endpoint.secret and secret.startswith("whsec_")
        screenshot(page, "webhook-secret-1280")

        a_day_of_answers(endpoint)
        page.goto(f"{live_server.url}{PAGES}{endpoint.pk}/change/")
        page.get_by_text("Bad gateway").wait_for()
        content = page.content()
        assert endpoint.secret not in content  # shown once
        assert "every delivery failed since" in content
        page.locator(".last-answers").scroll_into_view_if_needed()
        screenshot(page, "webhook-answers-1280")

        phone = new_page(browser, 390, 844)
        log_in(phone, live_server, "alice")
        register(phone, live_server, shops[0], "https://hooks.example.com/second")
        screenshot(phone, "webhook-secret-390")
        phone.goto(f"{live_server.url}{PAGES}{endpoint.pk}/change/")
        phone.get_by_text("Bad gateway").wait_for()
        phone.locator(".last-answers").scroll_into_view_if_needed()
        screenshot(phone, "webhook-answers-390")
