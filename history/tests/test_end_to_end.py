"""Through real workers (`manage.py worker` processes on this test database), our webhook on a
live server, and the fake Graph API, which can drop webhooks as Meta sometimes does."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from devtools.fake_graph import FakeGraphAPI
from history.importing import request_import
from history.models import AccountReconciliation, HistoryImport
from history.tests.conftest import ACCOUNT_ID
from messaging.models import Message, WebhookDelivery
from messaging.tests.conftest import (
    database_url,
    handle_accepted_deliveries,
    kill_with_its_children,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BASE_DIR = Path(__file__).resolve().parents[2]
DAY = timedelta(days=1)
CUSTOMERS = [f"90000000000000{n:02d}" for n in range(30)]


@pytest.fixture
def fake(live_server, settings):
    fake = FakeGraphAPI(
        echo_webhook_url=f"{live_server.url}/webhooks/instagram",
        app_secret=settings.FACEBOOK_APP_SECRET,
        account_id=ACCOUNT_ID,
        drop_webhooks=0.5,
    ).start()
    settings.GRAPH_API_BASE_URL = fake.base_url
    yield fake
    fake.stop()


@pytest.fixture
def start_worker(fake, tmp_path):
    """Start `manage.py worker` (or another command) on this test's database and fake; what
    they log goes to a file of the test's, shown when the test fails."""
    started = []

    def start_worker(*command: str, **settings: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "ENV_FILE": os.devnull,
            "DATABASE_URL": database_url(),
            "GRAPH_API_BASE_URL": fake.base_url,
            "RECONCILE_INTERVAL": "1",
            # A webhook takes milliseconds, and Meta's times are to the second.
            "RECONCILE_GRACE": "2",
            "REPLY_SWEEP_INTERVAL": "0.3",
            **settings,
        }
        process = subprocess.Popen(
            [sys.executable, "manage.py", *(command or ["worker"])],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"process-{len(started)}.log").open("wb"),
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start_worker
    for process in started:
        kill_with_its_children(process)
        process.wait(timeout=10)
    for log in sorted(tmp_path.glob("process-*.log")):
        print(f"--- {log.name}", log.read_text()[-5000:], sep="\n")


def wait_for(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def delivery_handled(mid: str) -> bool:
    processed = WebhookDelivery.objects.filter(state="processed")
    return any(mid.encode() in bytes(delivery.body) for delivery in processed)


def answers(fake) -> list[str]:
    return [call["recipient_id"] for call in fake.calls if call["outcome"] == "sent"]


def test_dropped_dms_are_found_exactly_and_each_is_answered_once(account, fake, start_worker):
    mids = [
        fake.inbox.receive_dm(customer, f"question {n}") for n, customer in enumerate(CUSTOMERS[:8])
    ]
    dropped = [mid for mid in fake.inbox.dropped if mid in mids]
    assert 0 < len(dropped) < len(mids)  # some webhooks came, Meta "lost" the others
    # The webhooks that came are stored (their replies queued) before the worker starts: on a
    # loaded machine a webhook can take longer than RECONCILE_GRACE, and this test counts.
    handle_accepted_deliveries()
    start_worker()

    assert wait_for(lambda: sorted(answers(fake)) == CUSTOMERS[:8]), answers(fake)
    found = Message.objects.filter(details__found_by="reconciliation")
    assert sorted(found.values_list("mid", flat=True)) == sorted(dropped)
    # The pass records what it found when it ends, after sending its answers.
    assert wait_for(lambda: AccountReconciliation.objects.get().total_found == len(dropped))
    assert Message.objects.filter(direction="in").count() == 8
    time.sleep(2)  # more passes run: nothing more is found or answered
    assert sorted(answers(fake)) == CUSTOMERS[:8]
    assert AccountReconciliation.objects.get().total_found == len(dropped)


def test_a_webhook_after_the_reconciliation_found_its_dm_is_not_answered_again(
    account, fake, start_worker
):
    start_worker()
    mid = fake.inbox.receive_dm(CUSTOMERS[0], "hello?", drop=True)
    assert wait_for(lambda: answers(fake) == [CUSTOMERS[0]])
    assert Message.objects.get(mid=mid).details == {"found_by": "reconciliation"}

    fake.inbox.deliver(mid)  # Meta's webhook, late
    assert wait_for(lambda: delivery_handled(mid))
    time.sleep(1)
    assert answers(fake) == [CUSTOMERS[0]]
    assert Message.objects.filter(mid=mid).count() == 1


def test_the_webhook_and_the_reconciliation_at_once_on_two_workers_answer_once(
    account, fake, start_worker
):
    # Meta holds the DM; its webhook comes at the moment a worker's reconciliation reads the
    # thread, so that the other worker handles the webhook while this one handles what it read.
    mid = fake.inbox.add(CUSTOMERS[0], "two ways at once", at=time.time() - 5)["id"]
    fake.inbox.deliver_when_read(mid)
    start_worker()
    start_worker()

    assert wait_for(lambda: mid in fake.inbox.delivered and answers(fake))
    assert wait_for(lambda: delivery_handled(mid))
    time.sleep(2)
    assert answers(fake) == [CUSTOMERS[0]]
    assert Message.objects.filter(mid=mid).count() == 1
    assert Message.objects.filter(author="bot").count() == 1
    # Two workers, one pace: Meta never had to refuse a Conversations API call.
    assert [call for call in fake.inbox.calls if call["outcome"] != "ok"] == []


def test_an_import_killed_midway_continues_from_its_cursor(account, fake, start_worker):
    for n, customer in enumerate(CUSTOMERS):  # 30 threads: two pages of conversations
        at = time.time() - 3600 * (n + 1)
        fake.inbox.add(customer, f"question from {n}", at=at)
        fake.inbox.add(customer, f"answer to {n}", outgoing=True, at=at + 60)
    fake.inbox.rate_per_second = 20
    fast = {"CONVERSATIONS_API_RATE_PER_SECOND": "20"}
    # Only the import reads the conversations here: the worker's reconciliation is not due.
    AccountReconciliation.objects.create(account=account, next_pass_at=timezone.now() + DAY)

    importing = start_worker("import_history", "--account", ACCOUNT_ID, **fast)
    assert wait_for(lambda: len(fake.inbox.calls) >= 30), fake.inbox.calls  # into page 2
    kill_with_its_children(importing)
    importing.wait(timeout=10)
    stopped = HistoryImport.objects.get()
    assert stopped.state == "running"  # as the killed process left it
    assert stopped.cursor and 0 < stopped.conversations_done < 30

    # A worker's upkeep sees it stalled and its task loop continues it.
    start_worker(REPLY_STALLED_AFTER="1", **fast)
    assert wait_for(lambda: HistoryImport.objects.get().state == "done")
    done = HistoryImport.objects.get()
    assert done.conversations_done == 30
    assert Message.objects.count() == 60
    first_pages = [
        c for c in fake.inbox.calls if c["path"].endswith("conversations") and not c["after"]
    ]
    assert len(first_pages) == 1  # continued on the second page, not from the start
    assert answers(fake) == []  # history is never answered


def test_an_import_run_twice_by_a_worker_stores_each_message_once(account, fake, start_worker):
    for n, customer in enumerate(CUSTOMERS[:5]):
        at = time.time() - 3600 * (n + 1)
        fake.inbox.add(customer, f"question from {n}", at=at)
        fake.inbox.add(customer, f"answer to {n}", outgoing=True, at=at + 60)
    fake.inbox.rate_per_second = 20
    # Only the imports read the conversations here: the worker's reconciliation is not due.
    AccountReconciliation.objects.create(account=account, next_pass_at=timezone.now() + DAY)
    start_worker(CONVERSATIONS_API_RATE_PER_SECOND="20")

    request_import(account)  # as the admin action and the API do: a task for the worker
    assert wait_for(lambda: HistoryImport.objects.get().state == "done")
    first = HistoryImport.objects.get()
    assert (first.conversations_done, first.messages_imported, first.messages_known) == (5, 10, 0)

    request_import(account)  # connected again: a new import from the top
    assert wait_for(
        lambda: HistoryImport.objects.filter(state="done", requested_at__gt=first.requested_at)
    )
    second = HistoryImport.objects.get()
    assert (second.messages_imported, second.messages_known) == (0, 10)
    assert Message.objects.count() == 10
    assert Message.objects.filter(details__found_by="history_import").count() == 10
    assert answers(fake) == []  # history is never answered
