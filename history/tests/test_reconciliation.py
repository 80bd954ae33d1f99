"""Reconciliation: a message Meta has and no webhook brought is handled as if delivered, once,
whatever order the webhook and the reconciliation come in."""

import logging
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from history.models import AccountReconciliation
from history.reconciliation import reconcile_due_accounts
from messaging.models import Message
from messaging.sending import send_reply
from messaging.tests.conftest import CUSTOMER_ID, load_payload, with_mid

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def reconcile_at_once(settings):
    settings.RECONCILE_GRACE = 0


def reconcile_now():
    AccountReconciliation.objects.update(next_pass_at=timezone.now())
    return reconcile_due_accounts()


def sends(meta):
    return [call for call in meta.calls if call["outcome"] == "sent"]


def test_a_dm_no_webhook_brought_is_found_stored_and_answered(account, meta, caplog):
    mid = meta.inbox.add(CUSTOMER_ID, "Do you ship to Lyon?")["id"]
    caplog.set_level(logging.INFO)

    assert reconcile_now() == 1

    found = Message.objects.get(mid=mid)
    assert (found.direction, found.text, found.details) == (
        "in",
        "Do you ship to Lyon?",
        {"found_by": "reconciliation"},
    )
    assert [call["recipient_id"] for call in sends(meta)] == [CUSTOMER_ID]
    assert Message.objects.get(author="bot").status == "sent"
    state = AccountReconciliation.objects.get()
    assert (state.last_found, state.total_found, state.last_error) == (1, 1, "")
    assert state.last_reconciled_at is not None
    (line,) = [r for r in caplog.records if "no webhook delivered" in r.getMessage()]
    assert mid in line.getMessage()
    assert line.context == {"account": account.instagram_id, "mid": mid}


def test_a_webhook_arriving_after_the_reconciliation_is_not_answered_again(account, meta, deliver):
    mid = meta.inbox.add(CUSTOMER_ID, "hello")["id"]
    reconcile_now()
    deliver(with_mid(load_payload("messages__text"), mid, "hello"))  # Meta's webhook, late
    for reply in Message.objects.filter(status="queued"):
        send_reply(reply.pk)
    assert len(sends(meta)) == 1
    assert Message.objects.filter(mid=mid).count() == 1


def test_a_message_the_webhook_brought_is_not_found_again(account, meta, deliver):
    deliver(load_payload("messages__text"))
    delivered = Message.objects.get(direction="in")
    meta.inbox.add(CUSTOMER_ID, delivered.text, mid=delivered.mid, at=time.time() - 5)
    reconcile_now()
    assert AccountReconciliation.objects.get().last_found == 0
    assert Message.objects.filter(direction="in").count() == 1


def test_a_found_dm_the_business_answered_since_is_stored_not_answered(account, meta, deliver):
    deliver(load_payload("messages__text"))  # delivered, and the bot answers it
    send_reply(Message.objects.get(author="bot").pk)
    # Meanwhile, a minute before our answer, the customer wrote again: no webhook came.
    missed = meta.inbox.add(CUSTOMER_ID, "and to Paris?", at=time.time() - 60)["id"]

    reconcile_now()

    assert Message.objects.filter(mid=missed).exists()
    assert len(sends(meta)) == 1  # only the first answer: this one was answered by it


def test_a_staff_message_found_missing_is_stored_and_silences_the_bot(account, meta):
    meta.inbox.add(CUSTOMER_ID, "price?", at=time.time() - 120)
    meta.inbox.add(CUSTOMER_ID, "It is 40 €", outgoing=True, at=time.time() - 60)
    reconcile_now()
    assert Message.objects.get(direction="out").author == "business_app"
    assert sends(meta) == []  # staff answered it already, from the app
    assert AccountReconciliation.objects.get().last_found == 2


def test_a_found_dm_older_than_the_messaging_window_is_stored_not_answered(account, meta, settings):
    settings.RECONCILE_LOOKBACK = 3 * 24 * 3600
    meta.inbox.add(CUSTOMER_ID, "hello?", at=time.time() - 25 * 3600)
    reconcile_now()
    assert Message.objects.filter(direction="in").count() == 1
    assert sends(meta) == []


def test_messages_younger_than_the_grace_wait_for_the_next_pass(account, meta, settings):
    settings.RECONCILE_GRACE = 3600
    meta.inbox.add(CUSTOMER_ID, "just now")
    reconcile_now()
    assert not Message.objects.exists()


def test_only_conversations_active_since_the_last_pass_are_read(account, meta, settings):
    settings.NO_TEXT_REPLY = "none"  # an answer would make the thread active again
    for n in range(3):
        meta.inbox.add(f"900000000000000{n}", "", at=time.time() - 1800)
    reconcile_now()
    assert AccountReconciliation.objects.get().last_api_calls == 1 + 3
    meta.inbox.add(CUSTOMER_ID, "new")
    reconcile_now()
    # The list, then the one thread active since: the 3 older ones are not read again.
    assert AccountReconciliation.objects.get().last_api_calls == 1 + 1


def test_one_worker_takes_each_pass(account, meta, settings):
    settings.RECONCILE_INTERVAL = 300
    assert reconcile_due_accounts() == 1
    assert reconcile_due_accounts() == 0  # not due again for RECONCILE_INTERVAL


def test_a_rate_limited_pass_is_cut_short_and_the_next_one_checks_again(account, meta):
    mid = meta.inbox.add(CUSTOMER_ID, "hello")["id"]
    meta.inbox.fail_next("rate_limit")
    reconcile_now()
    state = AccountReconciliation.objects.get()
    assert "rate-limited" in state.last_error
    assert state.checked_until is None

    from history.models import ConversationsApiThrottle

    ConversationsApiThrottle.objects.update(paused_until=None)  # Meta's pause is over
    reconcile_now()
    assert Message.objects.filter(mid=mid).exists()
    assert AccountReconciliation.objects.get().last_error == ""


def test_accounts_without_a_working_token_are_left_alone(account, meta):
    account.mark_token_invalid("expired")
    meta.inbox.add(CUSTOMER_ID, "hello")
    assert reconcile_now() == 0
    assert meta.inbox.calls == []


def test_found_dms_and_a_silent_webhook_say_the_subscription_is_broken(
    account, meta, client, caplog, settings
):
    settings.WEBHOOK_SILENCE_ALERT = 600
    meta.inbox.add(CUSTOMER_ID, "anyone there?")
    reconcile_now()

    state = AccountReconciliation.objects.get()
    assert state.subscription_suspect_since is not None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "WEBHOOK SUBSCRIPTION PROBABLY BROKEN" in errors[0].getMessage()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert any("webhook subscription is probably broken" in p for p in health.json()["problems"])
    assert health.json()["reconciliation"][account.instagram_id]["found_missing_last_pass"] == 1


def test_a_dm_found_while_webhooks_still_come_is_no_alarm(account, meta, deliver):
    deliver(with_mid(load_payload("messages__text"), "aWdfZAG1delivered"))
    meta.inbox.add("9000000000000001", "the one Meta lost")
    reconcile_now()
    assert AccountReconciliation.objects.get().last_found == 1
    assert AccountReconciliation.objects.get().subscription_suspect_since is None


def test_a_pass_finding_nothing_clears_the_alarm(account, meta):
    AccountReconciliation.objects.create(
        account=account, subscription_suspect_since=timezone.now() - timedelta(hours=1)
    )
    reconcile_now()
    assert AccountReconciliation.objects.get().subscription_suspect_since is None


def test_healthz_shows_when_each_account_was_last_reconciled(account, meta, client):
    reconcile_now()
    body = client.get("/healthz").json()
    assert body["reconciliation"][account.instagram_id]["last_reconciled_seconds_ago"] < 60
    assert body["reconciliation"][account.instagram_id]["subscription_suspect"] is False


def test_one_accounts_failure_never_stops_the_others(account, meta):
    from unittest import mock

    from accounts.models import InstagramBusinessAccount
    from history import reconciliation

    broken = InstagramBusinessAccount(instagram_id="17841400000000009", name="Broken")
    broken.set_access_token("EAAG-other")
    broken.save()
    real = reconciliation.reconcile_account

    def fail_for_broken(acc, state):
        if acc.pk == broken.pk:
            raise RuntimeError("its credentials cannot be opened")
        return real(acc, state)

    meta.inbox.add(CUSTOMER_ID, "hello")
    with mock.patch.object(reconciliation, "reconcile_account", side_effect=fail_for_broken):
        assert reconcile_now() == 1
    assert Message.objects.filter(direction="in").count() == 1


def test_a_worker_reconciles_every_reconcile_interval_not_once_per_sweep(account, meta, settings):
    # The sweeps run every minute; reconciliation is asked for every 10 s. A worker's pass
    # looks for due accounts every tenth of that, whatever the sweeps' interval.
    from messaging.worker_pass import Schedule, run_pass

    settings.REPLY_SWEEP_INTERVAL, settings.RECONCILE_INTERVAL = 60.0, 10.0
    clock = [1000.0]
    schedule = Schedule(clock=lambda: clock[0])

    def last_pass():
        return AccountReconciliation.objects.get(account=account).last_reconciled_at

    run_pass(schedule)  # a new worker: every upkeep step is due
    run_pass(schedule)  # and again while an account was found due: none is now
    first = last_pass()
    assert first is not None
    AccountReconciliation.objects.update(next_pass_at=timezone.now())  # RECONCILE_INTERVAL on
    clock[0] += 0.5
    run_pass(schedule)
    assert last_pass() == first  # not looked for yet
    clock[0] += 0.5  # a tenth of RECONCILE_INTERVAL since the last look
    run_pass(schedule)
    assert last_pass() > first


def test_a_worker_pass_reconciles_one_account_and_takes_deliveries_before_the_next(
    account, meta, settings
):
    from accounts.models import InstagramBusinessAccount
    from messaging.worker_pass import Schedule, run_pass

    other = InstagramBusinessAccount(instagram_id="17841400000000009", name="Other")
    other.set_access_token("EAAG-other")
    other.save()
    schedule = Schedule(clock=lambda: 0.0)

    def reconciled():
        return AccountReconciliation.objects.filter(next_pass_at__gt=timezone.now()).count()

    run_pass(schedule)
    assert reconciled() == 1
    run_pass(schedule)  # due again at once: an account is still due
    assert reconciled() == 2
