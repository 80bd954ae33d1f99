"""What staff see in the admin: the import's progress, each account's reconciliation, the alarm."""

import pytest
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from history.models import AccountReconciliation, HistoryImport

pytestmark = pytest.mark.django_db


def test_the_account_action_queues_an_import(account, admin_client):
    response = admin_client.post(
        "/admin/accounts/instagrambusinessaccount/",
        {"action": "import_history", "_selected_action": [account.pk]},
        follow=True,
    )
    assert "history import queued" in response.content.decode()
    assert HistoryImport.objects.get(account=account).state == "queued"


def test_the_imports_list_shows_how_far_each_import_is(account, admin_client):
    HistoryImport.objects.create(
        account=account,
        state="running",
        conversations_done=12,
        messages_imported=340,
        messages_known=7,
        api_calls=25,
        progress_at=timezone.now(),
    )
    page = admin_client.get("/admin/history/historyimport/").content.decode()
    for shown in ("Running", "340", "25", "s ago"):
        assert shown in page


def test_the_reconciliations_list_shows_the_last_pass_and_a_broken_subscription(
    account, admin_client
):
    other = InstagramBusinessAccount.objects.create(instagram_id="17841400000000002", name="Other")
    AccountReconciliation.objects.create(
        account=account, last_reconciled_at=timezone.now(), last_found=2, total_found=5
    )
    AccountReconciliation.objects.create(account=other, subscription_suspect_since=timezone.now())
    page = admin_client.get("/admin/history/accountreconciliation/").content.decode()
    assert "PROBABLY BROKEN" in page
    assert "never" in page  # the other account was never reconciled
