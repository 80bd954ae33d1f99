"""What the Conversations API answers is cleaned as webhook deliveries are (lone surrogates,
NULs), and one message that cannot be read or stored never stops a reconciliation pass or an
import."""

import time
from unittest import mock

import pytest

from history.importing import request_import, run_import
from history.models import AccountReconciliation, HistoryImport
from history.storing import store_as_history
from history.tests.test_reconciliation import reconcile_at_once, reconcile_now  # noqa: F401
from messaging.models import Message

pytestmark = pytest.mark.django_db

SURROGATE_CUSTOMER = "9000000000000001"
OTHER_CUSTOMER = "9000000000000002"


def test_a_lone_surrogate_in_history_is_stored_cleaned_and_the_pass_goes_on(account, meta):
    # The fake serialises as Meta does: "\ud800" escaped in the JSON.
    odd = meta.inbox.add(SURROGATE_CUSTOMER, "caf\ud800 and \x00NUL", at=time.time() - 60)["id"]
    missed = meta.inbox.add(OTHER_CUSTOMER, "Do you ship to Lyon?", at=time.time() - 30)["id"]

    assert reconcile_now() == 1

    assert Message.objects.get(mid=odd).text == "caf\ufffd and NUL"
    assert Message.objects.get(mid=missed).text == "Do you ship to Lyon?"
    state = AccountReconciliation.objects.get()
    assert (state.last_found, state.last_error) == (2, "")
    answered = [c["recipient_id"] for c in meta.calls if c["outcome"] == "sent"]
    assert sorted(answered) == [SURROGATE_CUSTOMER, OTHER_CUSTOMER]


def test_an_unreadable_history_message_is_left_out_not_the_pass(account, meta, caplog):
    meta.inbox.add(SURROGATE_CUSTOMER, "no time", at=time.time() - 60)
    thread = meta.inbox.threads[SURROGATE_CUSTOMER]
    thread.messages[0]["from"] = "not an object"  # an item Meta should never send
    missed = meta.inbox.add(OTHER_CUSTOMER, "Do you ship to Lyon?", at=time.time() - 30)["id"]

    reconcile_now()

    assert list(Message.objects.filter(direction="in").values_list("mid", flat=True)) == [missed]
    assert AccountReconciliation.objects.get().last_error == ""
    assert "unreadable message, left out" in caplog.text


def test_a_message_that_cannot_be_stored_never_stops_the_pass(account, meta, caplog):
    first = meta.inbox.add(SURROGATE_CUSTOMER, "first", at=time.time() - 60)["id"]
    missed = meta.inbox.add(OTHER_CUSTOMER, "second", at=time.time() - 30)["id"]
    real = Message.objects.create

    def failing_create(**fields):
        if fields.get("mid") == first:
            raise ValueError("the database refused it")
        return real(**fields)

    with mock.patch.object(Message.objects, "create", side_effect=failing_create):
        reconcile_now()

    assert Message.objects.filter(mid=missed).exists()
    assert AccountReconciliation.objects.get().last_error == ""
    assert f"message {first} left out" in caplog.text


def test_an_import_stores_cleaned_text_and_finishes(account, meta):
    meta.inbox.add(SURROGATE_CUSTOMER, "\udfff\x00hello", at=time.time() - 60)
    meta.inbox.add(OTHER_CUSTOMER, "fine", at=time.time() - 30)
    history_import = request_import(account)

    run_import(history_import.pk)

    history_import.refresh_from_db()
    assert (history_import.state, history_import.messages_imported) == ("done", 2)
    assert Message.objects.get(conversation__customer_id=SURROGATE_CUSTOMER).text == "\ufffdhello"


def test_an_import_leaves_out_a_message_that_cannot_be_stored(account, meta, caplog):
    meta.inbox.add(SURROGATE_CUSTOMER, "first", at=time.time() - 60)
    meta.inbox.add(OTHER_CUSTOMER, "second", at=time.time() - 30)
    history_import = request_import(account)

    def failing_store(account, message):
        if message.text == "first":
            raise ValueError("the database refused it")
        return store_as_history(account, message)

    with mock.patch("history.importing.store_as_history", side_effect=failing_store):
        run_import(history_import.pk)

    history_import.refresh_from_db()
    assert (history_import.state, history_import.messages_imported) == ("done", 1)
    assert "History import: message" in caplog.text


def test_an_import_surprised_by_an_error_fails_with_the_reason_never_stays_running(account, meta):
    meta.inbox.add(OTHER_CUSTOMER, "fine", at=time.time() - 30)
    history_import = request_import(account)

    with mock.patch(
        "history.importing._import_pages", side_effect=RuntimeError("something unforeseen")
    ):
        run_import(history_import.pk)

    history_import.refresh_from_db()
    assert history_import.state == HistoryImport.State.FAILED
    assert "something unforeseen" in history_import.error
