"""Meta's webhook is served through a lean middleware stack of its own (instabot/handlers.py);
every other URL through the whole site's. These requests go through the WSGI application that
gunicorn and runserver serve (Django's test client has a handler of its own)."""

import pytest
from django.conf import settings
from django.test import RequestFactory

from instabot.handlers import SiteApplication
from instabot.wsgi import application
from messaging.models import WebhookDelivery
from messaging.simulation import signed_headers
from messaging.tests.conftest import WEBHOOK_URL, encode, load_payload

# The site's handler closes a connection left outside autocommit at each request's end, as
# in production: these tests run outside the test-wide transaction that would trip it.
pytestmark = pytest.mark.django_db(transaction=True)


def serve(request) -> tuple[int, dict, bytes]:
    """`request` through instabot.wsgi.application, as a WSGI server would: status, headers
    (Set-Cookie joined) and body."""
    answer = {}

    def start_response(status, headers):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {}
        for name, value in headers:
            known = answer["headers"].get(name)
            answer["headers"][name] = f"{known}, {value}" if known else value

    response = application(request.environ, start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()  # the WSGI server's duty: sends request_finished
    return answer["status"], answer["headers"], body


def signed_delivery(path=WEBHOOK_URL, secret=None):
    body = encode(load_payload("messages__text"))
    headers = signed_headers(body, secret or settings.FACEBOOK_APP_SECRET)
    content_type = headers.pop("Content-Type")
    return RequestFactory().post(path, data=body, content_type=content_type, headers=headers)


def test_a_webhook_delivery_is_stored_without_the_staff_pages_middleware():
    status, headers, body = serve(signed_delivery())
    assert (status, body) == (200, b"EVENT_RECEIVED")
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.RECEIVED
    assert headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware ran
    assert headers["Content-Length"] == str(len(body))  # CommonMiddleware ran
    # No framing header, no cookie, no Vary: Cookie: what staff pages need is not done here.
    assert "X-Frame-Options" not in headers
    assert "Set-Cookie" not in headers
    assert "Vary" not in headers


def test_webhook_refusals_work_without_the_staff_pages_middleware():
    status, _, _ = serve(signed_delivery(secret="not-the-app-secret"))
    assert status == 401
    verification = RequestFactory().get(
        f"{WEBHOOK_URL}/17841400000000001",  # the account-scoped URL, same stack
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"},
    )
    status, headers, _ = serve(verification)
    assert status == 403
    assert "X-Frame-Options" not in headers
    assert not WebhookDelivery.objects.exists()


def test_every_other_url_is_served_through_the_whole_stack():
    status, headers, _ = serve(RequestFactory().get("/ping"))
    assert status == 200
    assert headers["X-Frame-Options"] == "DENY"

    status, headers, body = serve(RequestFactory().get("/admin/login/"))
    assert status == 200
    assert "csrftoken=" in headers["Set-Cookie"]  # CSRF protection for the login form
    assert b"csrfmiddlewaretoken" in body


def test_building_the_webhook_stack_leaves_the_sites_middleware_setting_alone():
    site_middleware = list(settings.MIDDLEWARE)
    SiteApplication()
    assert settings.MIDDLEWARE == site_middleware
    assert set(settings.WEBHOOK_MIDDLEWARE) < set(settings.MIDDLEWARE)
