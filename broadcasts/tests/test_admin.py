"""The broadcast page: a draft shows who it reaches now and why not the others; Send queues
it (now or at its time), Cancel stops it; staff see only their accounts'; hostile input is a
form error, never a 500."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from broadcasts.models import Broadcast, BroadcastSend
from inbox.tests.conftest import staff

pytestmark = pytest.mark.django_db

ADD = "/admin/broadcasts/broadcast/add/"


def page(broadcast) -> str:
    return f"/admin/broadcasts/broadcast/{broadcast.pk}/change/"


@pytest.fixture
def shop_staff(client, shops):
    user = staff("shopa", shops[0])
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_broadcast", "add_broadcast", "change_broadcast"]
        )
    )
    client.force_login(user)
    return client


def form(account, **changes) -> dict:
    data = {
        "account": account.pk,
        "name": "Winter sale",
        "text": "Winter sale: 20% off today",
        "tags": "vip",
        "fields_filter": "",
        "source": "",
        "last_seen_after": "",
        "last_seen_before": "",
        "send_at": "",
    }
    return {**data, **changes}


def test_draft_shows_reach_then_send_queues_it(shop_staff, shops, mixed_segment):
    answer = shop_staff.post(ADD, form(shops[0], _continue="1"))
    assert answer.status_code == 302, answer.content.decode()[:3000]
    broadcast = Broadcast.objects.get()
    assert broadcast.segment == "tag=vip"

    shown = shop_staff.get(page(broadcast)).content.decode()
    assert "2 of 5 contacts can get it now." in shown
    assert "2 not: their 24-hour window is closed" in shown
    assert "1 not: they opted out" in shown

    answer = shop_staff.post(page(broadcast), form(shops[0], _send="1"))
    assert answer.status_code == 302
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.QUEUED
    assert BroadcastSend.objects.filter(broadcast=broadcast).count() == 4
    assert "4 waiting" in shop_staff.get(page(broadcast)).content.decode()


def test_a_later_time_schedules_it_and_cancel_stops_it(shop_staff, shops, mixed_segment):
    later = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    data = form(shops[0], send_at_0=f"{later:%Y-%m-%d}", send_at_1=f"{later:%H:%M:%S}")
    shop_staff.post(ADD, data)
    broadcast = Broadcast.objects.get()
    shop_staff.post(page(broadcast), {**data, "_send": "1"})
    broadcast.refresh_from_db()
    assert broadcast.send_at == later
    assert set(broadcast.sends.values_list("due_at", flat=True)) == {later}

    assert shop_staff.post(page(broadcast), {"_cancel_broadcast": "1"}).status_code == 302
    assert broadcast.counts()["cancelled"] == 4


def test_staff_see_only_their_accounts_broadcasts(shop_staff, shops):
    theirs = Broadcast.objects.create(account=shops[1], name="B's", text="hello")
    assert shop_staff.get(page(theirs)).status_code == 302  # "not found": back to the list
    assert "B&#x27;s" not in shop_staff.get("/admin/broadcasts/broadcast/").content.decode()
    answer = shop_staff.post(ADD, form(shops[1]))
    assert answer.status_code == 200 and not Broadcast.objects.filter(name="Winter sale")


@pytest.mark.parametrize(
    "changes",
    [
        {"text": "x" * 2_000_001},
        {"text": "NUL \x00 in it"},
        {"tags": "vip\x00"},
        {"fields_filter": "city:" + "P" * 3_000},
        {"last_seen_after": "\uff12\uff10\uff12\uff16-01-01"},
    ],
)
def test_hostile_input_is_a_form_error(shop_staff, shops, changes):
    answer = shop_staff.post(ADD, form(shops[0], **changes))
    assert answer.status_code == 200
    assert "errornote" in answer.content.decode()
    assert not Broadcast.objects.exists()
