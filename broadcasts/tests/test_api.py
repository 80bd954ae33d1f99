"""/api/broadcasts/: a draft's reach, send, cancel, counts; access per account; hostile input
answered with a 400, never a 500."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from broadcasts.models import Broadcast
from inbox.tests.conftest import staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited(shops):
    user = staff("limited", shops[0])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="broadcasts"))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_draft_reach_then_send_and_cancel(limited, shops, mixed_segment):
    answer = limited.post(
        "/api/broadcasts/",
        {"account": shops[0].pk, "name": "Sale", "text": " Sale today ", "segment": "tag=vip"},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    draft = answer.json()
    assert draft["text"] == "Sale today"
    assert draft["reach"] == {
        "contacts": 5,
        "reachable_now": 2,
        "window_closed": 2,
        "opted_out": 1,
    }

    later = timezone.now() + timedelta(hours=3)
    answer = limited.post(
        f"/api/broadcasts/{draft['id']}/send/", {"send_at": later.isoformat()}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "queued"
    assert answer.json()["counts"]["queued"] == 4
    assert answer.json()["counts"]["opted_out"] == 1

    assert limited.post(f"/api/broadcasts/{draft['id']}/send/").status_code == 409
    assert limited.patch(f"/api/broadcasts/{draft['id']}/", {"text": "x"}).status_code == 400
    assert limited.delete(f"/api/broadcasts/{draft['id']}/").status_code == 409

    answer = limited.post(f"/api/broadcasts/{draft['id']}/cancel/")
    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled"
    assert answer.json()["counts"]["cancelled"] == 4


def test_other_accounts_broadcasts_are_not_found(limited, shops):
    theirs = Broadcast.objects.create(account=shops[1], name="B", text="hello")
    assert limited.get(f"/api/broadcasts/{theirs.pk}/").status_code == 404
    assert limited.post(f"/api/broadcasts/{theirs.pk}/send/").status_code == 404
    answer = limited.post(
        "/api/broadcasts/", {"account": shops[1].pk, "name": "x", "text": "y"}, format="json"
    )
    assert answer.status_code == 400


@pytest.mark.parametrize(
    "changes",
    [
        {"text": "x" * 2_000_001},
        {"text": "lone \ud800 surrogate"},
        {"text": "   "},
        {"segment": "tag=vip&opted_out=false"},
        {"segment": "account=2"},
        {"segment": "source=billboard"},
        {"segment": "last_seen_after=\uff12\uff10\uff12\uff16-01-01"},
        {"segment": "field=" + "c" * 3_000},
        {"name": ["a", "list"]},
        {"account": "\u0661"},
    ],
)
def test_hostile_input_is_a_400(limited, shops, changes):
    body = {"account": shops[0].pk, "name": "Sale", "text": "Sale", "segment": "", **changes}
    answer = limited.post("/api/broadcasts/", json.dumps(body), content_type="application/json")
    assert answer.status_code == 400, answer.content[:300]
    assert not Broadcast.objects.exists()


def test_send_at_that_is_not_a_time_is_a_400(limited, shops):
    draft = Broadcast.objects.create(account=shops[0], name="B", text="hello")
    answer = limited.post(f"/api/broadcasts/{draft.pk}/send/", {"send_at": "tomorrow"})
    assert answer.status_code == 400
    draft.refresh_from_db()
    assert draft.is_draft
