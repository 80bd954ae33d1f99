"""Property-based: whatever is posted, signed or not, the webhook never answers 500, and an
unsigned body never becomes a stored message."""

import json
import uuid

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from devtools.simulation import signed_headers
from messaging.models import Message, WebhookDelivery
from messaging.payloads import MID_LENGTH
from messaging.tests.conftest import WEBHOOK_URL, handle_accepted_deliveries, load_payload

pytestmark = pytest.mark.django_db

# How many examples: the Hypothesis profile (conftest.py), 150 in CI, fewer in the quick run.
FUZZ = hypothesis_settings(
    deadline=None,
    # The database fixture lives for the whole test; examples share it, which suits these
    # properties (nothing unsigned may ever be stored, whatever came before).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# Shapes near the real thing: Meta's keys with arbitrary values inside, so the fuzzing reaches
# past the envelope check into the events.
KEYS = [
    "object",
    "entry",
    "id",
    "time",
    "messaging",
    "standby",
    "sender",
    "recipient",
    "timestamp",
    "message",
    "mid",
    "text",
    "attachments",
    "type",
    "payload",
    "url",
    "is_echo",
    "reaction",
    "read",
    "postback",
    "message_edit",
    "reply_to",
    "quick_reply",
    "referral",
]
near_meta = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(["instagram", "17841400000000001"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=6)
    ),
    max_leaves=30,
)


# What the webhook answers on purpose: accepted, unreadable, too large, not JSON (an empty body
# carries no content type). Anything else, 500 above all, is a bug.
DELIBERATE = {200, 400, 413, 415}


def post(client, body, signed=True):
    headers = (
        signed_headers(body, settings.FACEBOOK_APP_SECRET)
        if signed
        else {"Content-Type": "application/json"}
    )
    response = client.post(
        WEBHOOK_URL, data=body, content_type=headers.pop("Content-Type"), headers=headers
    )
    handle_accepted_deliveries()
    return response


@FUZZ
@given(value=st.one_of(json_values, near_meta))
def test_signed_arbitrary_json_is_never_a_server_error(client, value):
    response = post(client, json.dumps(value).encode())
    assert response.status_code in DELIBERATE


@FUZZ
@given(body=st.binary(max_size=2000))
def test_signed_arbitrary_bytes_are_never_a_server_error(client, body):
    assert post(client, body).status_code in DELIBERATE


@FUZZ
@given(value=st.one_of(json_values, near_meta, st.just(load_payload("messages__text"))))
def test_unsigned_bodies_are_401_and_never_stored(client, value):
    body = json.dumps(value).encode()
    assert post(client, body, signed=False).status_code == 401
    assert not WebhookDelivery.objects.exists()
    assert not Message.objects.exists()


@FUZZ
@given(text=st.text(min_size=1, max_size=3000), mid=st.text(min_size=1, max_size=300))
def test_any_text_and_mid_round_trip_or_are_refused_cleanly(client, text, mid):
    # Examples share the database: a repeated mid is a duplicate (its first text stays), so
    # each example's mid is made unique while keeping the fuzzer's characters in it.
    mid = f"{uuid.uuid4().hex}{mid}"
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["message"] = {"mid": mid, "text": text}
    stored_before = Message.objects.count()

    assert post(client, json.dumps(payload).encode()).status_code in DELIBERATE

    stored_mid = mid.replace("\x00", "\\x00")
    if len(stored_mid) > MID_LENGTH:
        # Refused as a malformed event (kept raw): nothing of it is stored.
        assert Message.objects.count() == stored_before
    else:
        # A NUL is removed from the text (PostgreSQL cannot store it), kept apart in an id.
        assert Message.objects.get(mid=stored_mid).text == text.replace("\x00", "")
