"""History import: threads and their messages come in as they are, attached to the
conversations we have, never answered; run twice, nothing doubles; interrupted, it continues."""

import io
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from history.importing import request_import, run_import
from history.models import AccountReconciliation, ConversationsApiThrottle, HistoryImport
from history.tests.conftest import ACCOUNT_ID
from messaging.models import Conversation, Message
from messaging.tests.conftest import load_payload

pytestmark = pytest.mark.django_db

CUSTOMERS = [f"90000000000000{n:02d}" for n in range(30)]


def fill_inbox(fake, threads=30, per_thread=3):
    """`threads` customers (two pages of conversations), each a question and our answer."""
    for n, customer in enumerate(CUSTOMERS[:threads]):
        at = time.time() - 3600 * (n + 1)
        for k in range(per_thread - 1):
            fake.inbox.add(customer, f"question {k} from {n}", at=at + k)
        fake.inbox.add(customer, f"answer to {n}", outgoing=True, at=at + 60)


def test_an_import_stores_every_message_as_it_is_and_answers_none(account, meta, run_worker, api):
    # The worker's pass would also reconcile the account's newest messages before the import
    # (a new worker's first pass runs all its upkeep): not this test's subject.
    AccountReconciliation.objects.create(
        account=account, next_pass_at=timezone.now() + timedelta(days=1)
    )
    fill_inbox(meta)
    meta.inbox.add(
        CUSTOMERS[0],
        "",
        attachments=[
            {"id": "1", "mime_type": "image/jpeg", "image_data": {"url": "https://cdn/1.jpg"}}
        ],
    )
    response = api.post(f"/api/accounts/{account.pk}/import_history/")
    assert response.status_code == 202
    assert response.json()["state"] == "queued"

    run_worker()  # the worker's task loop runs the import

    done = HistoryImport.objects.get()
    assert done.state == "done"
    assert (done.conversations_done, done.messages_imported, done.messages_known) == (30, 91, 0)
    assert Conversation.objects.count() == 30
    assert Message.objects.filter(direction="in", author="customer").count() == 61
    assert (
        Message.objects.filter(direction="out", author="business_app", status="sent").count() == 30
    )
    photo = Message.objects.get(text="", direction="in")
    assert photo.attachments == [{"type": "image", "url": "https://cdn/1.jpg"}]
    assert meta.calls == []  # nothing was sent: history is never answered
    assert api.get(f"/api/accounts/{account.pk}/import_history/").json()["state"] == "done"


def test_importing_twice_doubles_nothing(account, meta, api, run_worker):
    fill_inbox(meta, threads=5)
    for _ in range(2):
        assert api.post(f"/api/accounts/{account.pk}/import_history/").status_code == 202
        run_worker()
    done = HistoryImport.objects.get()
    assert done.state == "done"
    assert (done.messages_imported, done.messages_known) == (0, 15)  # the second run's counts
    assert Message.objects.count() == 15
    assert meta.calls == []


def test_imported_messages_join_the_conversation_we_have(account, meta, deliver):
    deliver(load_payload("messages__text"))  # customer 1234567890123456 wrote to us already
    conversation = Conversation.objects.get()
    delivered = Message.objects.get(direction="in")
    meta.inbox.add(conversation.customer_id, "an older question", at=time.time() - 7200)
    meta.inbox.add(conversation.customer_id, delivered.text, mid=delivered.mid)

    run_import(request_import(account).pk)

    assert Conversation.objects.count() == 1
    texts = [m.text for m in conversation.recent_messages(10) if m.direction == "in"]
    assert texts == ["an older question", delivered.text]  # in the thread's order, once each


def test_since_leaves_older_conversations_out(account, meta):
    fill_inbox(meta, threads=5)  # threads active 1 to 5 hours ago
    out = io.StringIO()
    call_command("import_history", "--account", ACCOUNT_ID, "--since", "150m", stdout=out)
    assert Conversation.objects.count() == 2
    assert "Imported Shop (@shop): 2 conversations · 6 messages imported" in out.getvalue()


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_command_draws_a_progress_bar_on_a_terminal(account, meta):
    fill_inbox(meta, threads=30)  # two pages: 25 conversations, then 5
    out = Terminal()
    call_command("import_history", "--account", ACCOUNT_ID, stdout=out)
    drawn = out.getvalue().split("\r")
    assert drawn[0].startswith("page 1 [#-------------------] 1/25 · 1 conversations")
    assert any(line.startswith("page 1 [####################] 25/25") for line in drawn)
    assert any(line.startswith("page 2 [####----------------] 5/25 · 30 conv") for line in drawn)
    assert "Imported Shop (@shop): 30 conversations" in drawn[-1]


def test_a_rate_limited_import_waits_its_turn_and_continues_from_its_cursor(account, meta):
    fill_inbox(meta)
    history_import = request_import(account)
    meta.inbox.fail_next("rate_limit", times=1)  # the very first call
    run_import(history_import.pk)
    paused = HistoryImport.objects.get()
    assert paused.state == "queued"
    assert "613" in paused.error
    assert paused.not_before > paused.requested_at

    # Meta's pause is over.
    HistoryImport.objects.update(not_before=paused.requested_at)
    ConversationsApiThrottle.objects.update(paused_until=None)
    run_import(history_import.pk)
    assert HistoryImport.objects.get().state == "done"
    assert Message.objects.count() == 90


def test_a_failed_import_continues_from_where_it_stopped_when_asked_again(account, meta):
    fill_inbox(meta)
    history_import = request_import(account)
    # Meta refuses the 27th conversation's messages for good: the second page's second one.
    original = meta.inbox._messages
    reads = []

    def refuse_the_27th(conversation_id, params):
        reads.append(conversation_id)
        if len(reads) == 27:
            return 400, {"error": {"message": "(#100) Invalid parameter", "code": 100}}
        return original(conversation_id, params)

    meta.inbox._messages = refuse_the_27th
    run_import(history_import.pk)
    failed = HistoryImport.objects.get()
    assert failed.state == "failed"
    assert failed.cursor  # on the second page of conversations
    assert failed.conversations_done == 26

    run_import(request_import(account).pk)
    done = HistoryImport.objects.get()
    assert done.state == "done"
    assert done.conversations_done == 30  # continued: not 26 + 30
    assert Message.objects.count() == 90
    first_pages = [
        c for c in meta.inbox.calls if c["path"].endswith("conversations") and not c["after"]
    ]
    assert len(first_pages) == 1  # the first page was not read again


@pytest.mark.parametrize("account", ["999", "\u00b2", "99999999999999999999"])
def test_the_command_names_an_unknown_account(db, account):
    with pytest.raises(CommandError, match="No account"):
        call_command("import_history", account=account)


@pytest.mark.parametrize("since", ["soon", "-5d", "\u0663\u0660d", "99999999d", "9999999999w"])
def test_the_api_refuses_an_age_it_cannot_read(account, api, since):
    response = api.post(f"/api/accounts/{account.pk}/import_history/", {"since": since})
    assert response.status_code == 400
    assert "since" in response.json()
    assert not HistoryImport.objects.exists()


def test_the_command_refuses_an_age_it_cannot_count_back(account):
    with pytest.raises(CommandError, match="longer than 100 years"):
        call_command("import_history", "--account", ACCOUNT_ID, "--since", "99999999d")


@pytest.mark.parametrize(
    "since", ["1\u0661d", "\u00b2d", "99999999999999999999d", "999999w", "9" * 5000 + "d"]
)
def test_the_api_refuses_an_age_in_other_digits_or_past_the_calendar(account, api, since):
    response = api.post(
        f"/api/accounts/{account.pk}/import_history/", {"since": since}, format="json"
    )
    assert response.status_code == 400
    assert "since" in response.json()
    assert not HistoryImport.objects.exists()


def test_an_age_of_a_century_is_the_longest_taken(account, api):
    response = api.post(
        f"/api/accounts/{account.pk}/import_history/", {"since": "5200w"}, format="json"
    )
    assert response.status_code == 202
