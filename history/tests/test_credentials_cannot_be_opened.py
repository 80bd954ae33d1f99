"""A token no FIELD_ENCRYPTION_KEY key opens: the history import waits (queued, its cursor
kept) instead of failing, the reconciliation skips the account with one clear line, and both
go on once the key is fixed."""

import pytest
from cryptography.fernet import Fernet

from history.importing import request_import, run_import
from history.models import HistoryImport
from history.reconciliation import reconcile_due_accounts
from history.tests.test_import import fill_inbox
from messaging.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_lost(settings, account):
    """The account's token stored with the key the settings had; calling the fixture's
    value puts that key back (the operator's fix)."""
    right_key = settings.FIELD_ENCRYPTION_KEY
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]

    def fix():
        settings.FIELD_ENCRYPTION_KEY = right_key

    return fix


def test_an_import_waits_for_credentials_and_runs_once_the_key_is_fixed(
    account, meta, key_lost, caplog
):
    fill_inbox(meta, threads=3)
    history_import = request_import(account)
    run_import(history_import.pk)
    waiting = HistoryImport.objects.get()
    assert waiting.state == "queued" and "waiting for credentials" in waiting.error
    assert waiting.not_before > waiting.requested_at
    assert "CREDENTIALS PROBLEM: history import of account" in caplog.text
    assert "Traceback" not in caplog.text

    key_lost()
    HistoryImport.objects.update(not_before=waiting.requested_at)
    run_import(history_import.pk)
    assert HistoryImport.objects.get().state == "done"
    assert Message.objects.count() == 9


def test_the_reconciliation_skips_an_account_it_cannot_open_with_one_line(
    account, meta, key_lost, caplog
):
    meta.inbox.add("9000000000000001", "hello")
    assert reconcile_due_accounts() == 0
    (line,) = [r for r in caplog.records if r.name == "history.reconciliation"]
    assert line.getMessage().startswith("CREDENTIALS PROBLEM: account 17841400000000001")
    assert line.exc_info is None

    key_lost()
    assert reconcile_due_accounts() == 1


def test_a_fixed_key_puts_an_import_that_waited_back_to_work_at_once(
    account, meta, key_lost, run_worker
):
    fill_inbox(meta, threads=3)
    history_import = request_import(account)
    run_import(history_import.pk)  # waits CREDENTIALS_RETRY for the key
    assert HistoryImport.objects.get().state == "queued"

    key_lost()  # the operator's fix
    run_worker()  # its pass finds every stored credential opens: the import goes on now
    assert HistoryImport.objects.get().state == "done"
