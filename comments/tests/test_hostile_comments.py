"""Signed `changes[]` deliveries built to hurt: each gets a clear answer (never a 500), and a
comment that can be read is stored; one that cannot is skipped with a log line naming why,
the rest of its delivery going on."""

import pytest
from django.utils import timezone

from comments.models import Comment
from comments.tests.conftest import COMMENT_ID, comment_payload, make_rule
from messaging.models import WebhookDelivery
from messaging.tests.conftest import encode

pytestmark = pytest.mark.django_db


def with_escapes(payload: dict, **replacements: str) -> bytes:
    """The payload as Meta encodes it, with JSON escapes put in place of marker strings."""
    body = encode(payload).decode()
    for marker, escape in replacements.items():
        body = body.replace(marker, escape)
    return body.encode()


def value_of(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]


def test_lone_surrogates_in_a_comment_are_stored_and_the_ids_kept_apart(
    deliver, fake_meta, run_worker
):
    make_rule()
    payload = comment_payload(comment_id="17800000000000001MARK", text="price MARK?")
    value_of(payload)["from"]["username"] = "fanMARK"
    assert deliver(with_escapes(payload, MARK="\\ud800")).status_code == 200
    other = comment_payload(comment_id="17800000000000001MARK", text="price")
    assert deliver(with_escapes(other, MARK="\\udc00")).status_code == 200
    run_worker()

    first, second = Comment.objects.order_by("pk")
    assert (first.comment_id, second.comment_id) == (
        "17800000000000001\\ud800",
        "17800000000000001\\udc00",
    )
    assert first.text == "price \ufffd?" and first.author_username == "fan\ufffd"
    assert all(d.state == "processed" for d in WebhookDelivery.objects.all())


def test_a_nul_in_a_comment_and_its_username_is_removed_and_the_comment_answered(
    deliver, fake_meta, run_worker
):
    make_rule()
    payload = comment_payload(text="pri\x00ce?")
    value_of(payload)["from"]["username"] = "\x00fan"
    assert deliver(payload).status_code == 200
    run_worker()

    comment = Comment.objects.get()
    assert (comment.text, comment.author_username) == ("price?", "fan")
    assert comment.status == "private"


def test_a_two_megabyte_comment_is_stored_whole_and_answered(deliver, fake_meta, run_worker):
    make_rule()
    assert deliver(comment_payload(text="price " + "x" * 2_000_000)).status_code == 200
    run_worker()
    comment = Comment.objects.get()
    assert len(comment.text) == 2_000_006
    assert comment.status == "private"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": 17800000000000002}, None),  # a number for an id: JSON tools do that; read
        ({"id": ["1"]}, "id is missing or not an id"),
        ({"id": {"$gt": ""}}, "id is missing or not an id"),
        ({"text": 42}, '"text" is not a string'),
        ({"from": "1234"}, '"from" is missing or not an object'),
        ({"from": {"id": True}}, "from.id is missing or not an id"),
        ({"media": ["17895695668004550"]}, '"media" is not an object'),
        ({"parent_id": {"id": "1"}}, '"parent_id" is missing or not an id'),
        ({"id": "9" * 65}, "id is missing or not an id"),
    ],
)
def test_a_comment_of_the_wrong_shape_is_skipped_with_the_reason(
    deliver, fake_meta, run_worker, caplog, change, reason
):
    make_rule()
    payload = comment_payload(text="price")
    value_of(payload).update(change)
    # The same delivery carries a good comment too: it goes through all the same.
    good = comment_payload(comment_id="17800000000000003", text="price")
    payload["entry"][0]["changes"].append(good["entry"][0]["changes"][0])

    assert deliver(payload).status_code == 200
    run_worker()

    assert WebhookDelivery.objects.get().state == "processed"
    stored = set(Comment.objects.values_list("comment_id", flat=True))
    assert "17800000000000003" in stored
    if reason is None:
        assert stored == {"17800000000000002", "17800000000000003"}
    else:
        assert stored == {"17800000000000003"}
        assert f"skipped a malformed event: entry[0].changes[0]: {reason}" in caplog.text


@pytest.mark.parametrize(
    "changes",
    [
        {"field": "comments"},  # not a list
        [None, 1, "comments", []],  # items that are not objects
        [{"field": 7, "value": {}}],
        [{"field": "comments", "value": "price"}],
        [{"field": "comments", "value": None}],
        [{"field": "mentions", "value": {"media_id": ["1"]}}],
    ],
)
def test_changes_of_the_wrong_shape_are_skipped_never_a_500(deliver, caplog, changes):
    payload = comment_payload()
    payload["entry"][0]["changes"] = changes
    assert deliver(payload).status_code == 200
    assert WebhookDelivery.objects.get().state == "processed"
    assert "skipped a malformed event" in caplog.text
    assert not Comment.objects.exists()


def test_a_comment_nested_too_deeply_to_read_is_400_and_kept(deliver):
    body = encode(comment_payload()).replace(
        f'"{COMMENT_ID}"'.encode(),
        b'"' + COMMENT_ID.encode() + b'", "x": ' + b"[" * 5000 + b"]" * 5000,
    )
    response = deliver(body)
    assert response.status_code == 400
    assert bytes(WebhookDelivery.objects.get().body) == body  # kept, marked rejected


ARABIC_INDIC_SECONDS = "\u0661\u0667" + "\u0660" * 8  # 1700000000 in Arabic-Indic digits


@pytest.mark.parametrize("entry_time", [None, "yesterday", [1], 1e300, ARABIC_INDIC_SECONDS])
def test_a_comment_without_a_usable_entry_time_is_kept_timed_when_it_was_read(
    deliver, fake_meta, run_worker, caplog, entry_time
):
    make_rule()
    payload = comment_payload(text="price")
    if entry_time is None:
        del payload["entry"][0]["time"]
    else:
        payload["entry"][0]["time"] = entry_time
    value_of(payload)["from"]["username"] = "u" * 200
    assert deliver(payload).status_code == 200
    run_worker()
    comment = Comment.objects.get()
    assert abs((timezone.now() - comment.commented_at).total_seconds()) < 120
    assert comment.author_username == "u" * 64
    assert "entry.time is unusable" in caplog.text
