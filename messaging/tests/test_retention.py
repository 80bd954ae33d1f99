"""Raw deliveries are kept RAW_DELIVERY_RETENTION_DAYS once handled, then deleted by the
worker's upkeep; what still awaits someone is kept."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message, WebhookDelivery
from messaging.retention import prune_raw_deliveries
from messaging.tests.conftest import load_payload
from messaging.worker_pass import Schedule, run_pass

pytestmark = pytest.mark.django_db

State = WebhookDelivery.State


def delivery(state, days_old):
    row = WebhookDelivery.record(b"{}", {}, state=state)
    WebhookDelivery.objects.filter(pk=row.pk).update(
        received_at=timezone.now() - timedelta(days=days_old)
    )
    return row.pk


def test_handled_deliveries_older_than_the_retention_are_deleted(settings):
    settings.RAW_DELIVERY_RETENTION_DAYS = 14
    old_processed = delivery(State.PROCESSED, 15)
    old_rejected = delivery(State.REJECTED, 20)
    recent = delivery(State.PROCESSED, 13)
    old_failed = delivery(State.FAILED, 30)
    old_waiting = delivery(State.WAITING_FOR_CREDENTIALS, 30)
    assert prune_raw_deliveries() == 2
    kept = set(WebhookDelivery.objects.values_list("pk", flat=True))
    assert kept == {recent, old_failed, old_waiting}
    assert not kept & {old_processed, old_rejected}


def test_the_messages_a_pruned_delivery_carried_stay(deliver, settings):
    deliver(load_payload("messages__text"))
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(days=30))
    assert prune_raw_deliveries() == 1
    assert Message.objects.filter(direction="in").count() == 1


def test_a_longer_retention_keeps_them_and_zero_keeps_them_all(settings):
    delivery(State.PROCESSED, 40)
    settings.RAW_DELIVERY_RETENTION_DAYS = 60
    assert prune_raw_deliveries() == 0
    settings.RAW_DELIVERY_RETENTION_DAYS = 0
    assert prune_raw_deliveries() == 0
    assert WebhookDelivery.objects.count() == 1


def test_a_worker_pass_prunes_when_its_upkeep_is_due(settings):
    settings.RAW_DELIVERY_RETENTION_DAYS = 14
    delivery(State.PROCESSED, 15)
    run_pass(Schedule())  # a worker's first pass: all its upkeep is due
    assert not WebhookDelivery.objects.exists()
