"""Importing an account's recent conversations through the Conversations API.

request_import   queue it (admin action, API, command); a worker's task runs it.
run_import       claim it and work through the pages, from its stored cursor: conversations
                 newest first, each one's messages newest first, stored as they are
                 (storing.store_as_history), never answered. Idempotent by mid.

Cost: one call per page of 25 conversations, plus one per page of 20 messages in each
conversation (Meta details only a thread's newest messages), at 2 calls/s per account.
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from accounts.encryption import EncryptionKeyError
from history.calls import NotNow, PacedCalls, conversations_node
from history.models import HistoryImport
from history.storing import store_as_history
from instabot.logging import log_context
from messaging.outbox.claiming import WAITING_FOR_CREDENTIALS
from messaging.task_queue import enqueue
from meta import graph

logger = logging.getLogger(__name__)

# A queued import's worker waits this long for a slot in-process; a later one (Meta's rate
# limit) puts the import back in the queue until then.
MAX_SLOT_WAIT = timedelta(seconds=5)
# An import whose account's token no FIELD_ENCRYPTION_KEY key opens tries again this often.
CREDENTIALS_RETRY = timedelta(minutes=1)


# A worker's task imports this many pages of conversations (25 each, about 13 s at Meta's
# pace), then queues the rest as a task of its own: staff replies and retries waiting in the
# same queue go in between.
PAGES_PER_TASK = 1


@task()
def import_history_task(import_id: int) -> None:
    run_import(import_id, pages=PAGES_PER_TASK)


def request_import(account, since: datetime | None = None) -> HistoryImport:
    """Queue the import of `account`'s recent conversations (from `since`, or all Meta
    returns); one already queued or running continues instead."""
    with transaction.atomic():
        history_import = HistoryImport.request(account, since)
        if history_import.state == HistoryImport.State.QUEUED:
            enqueue(import_history_task, history_import.pk)
    logger.info("History import of account %s requested", account.instagram_id)
    return history_import


def _waiting_for_credentials():
    return HistoryImport.objects.filter(
        state=HistoryImport.State.QUEUED, error__startswith=WAITING_FOR_CREDENTIALS
    )


def any_waiting_for_credentials() -> bool:
    return _waiting_for_credentials().exists()


def queue_imports_that_waited_for_credentials(now: datetime) -> int:
    """Every stored credential opens again: the imports that waited go on now, from their
    cursor, not at the end of CREDENTIALS_RETRY (messaging.credentials_wait runs this)."""
    count = 0
    for pk in _waiting_for_credentials().filter(not_before__gt=now).values_list("pk", flat=True):
        with transaction.atomic():
            if _waiting_for_credentials().filter(pk=pk, not_before__gt=now).update(not_before=now):
                enqueue(import_history_task, pk)
                count += 1
    return count


def requeue_stalled_imports() -> int:
    """For the upkeep: put back to work imports a killed worker left running, or whose task
    was lost. The claim makes a second task for one import harmless."""
    stalled_before = timezone.now() - timedelta(seconds=settings.REPLY_STALLED_AFTER)
    stalled = HistoryImport.objects.filter(
        state=HistoryImport.State.RUNNING, progress_at__lt=stalled_before
    ) | HistoryImport.objects.filter(
        state=HistoryImport.State.QUEUED, not_before__lt=stalled_before
    )
    count = 0
    for pk in stalled.values_list("pk", flat=True)[:100]:
        with transaction.atomic():
            HistoryImport.objects.filter(pk=pk, state=HistoryImport.State.QUEUED).update(
                not_before=timezone.now()
            )
            enqueue(import_history_task, pk)
        logger.warning("History import %s stalled: queued again, to continue from its cursor", pk)
        count += 1
    return count


Progress = Callable[[HistoryImport], None]


def run_import(
    import_id: int,
    progress: Progress | None = None,
    wait_in_process: bool = False,
    pages: int | None = None,
) -> HistoryImport | None:
    """Run a queued import (or take over a stalled one) from its cursor: to the end, or for
    `pages` pages of conversations, the rest queued as a new task.

    Returns the import, or None when another worker has it. `progress` is called after
    each conversation. When Meta asks us to wait, the import goes back to the queue until
    then (a worker's task), or, with `wait_in_process` (the command), waits here.
    """
    stalled_before = timezone.now() - timedelta(seconds=settings.REPLY_STALLED_AFTER)
    if not HistoryImport.claim(import_id, stalled_before):
        return None
    history_import = HistoryImport.objects.select_related("account").get(pk=import_id)
    account = history_import.account
    with log_context(account=account.instagram_id):
        logger.info(
            "History import of account %s: %s",
            account.instagram_id,
            "continuing from its cursor" if history_import.cursor else "starting",
        )
        while True:
            try:
                call = PacedCalls(account, MAX_SLOT_WAIT)
                finished = _import_pages(history_import, call, progress, pages)
            except NotNow as wait:
                if wait_in_process:
                    logger.info("History import waits until %s: %s", wait.until, wait.reason)
                    time.sleep(max(0.0, (wait.until - timezone.now()).total_seconds()))
                    continue
                with transaction.atomic():
                    history_import.wait_until(wait.until, wait.reason)
                    enqueue(import_history_task.using(run_after=wait.until), import_id)
                logger.info("History import paused until %s: %s", wait.until, wait.reason)
            except EncryptionKeyError as exc:
                if wait_in_process:
                    raise
                # The token is stored but no key opens it (/healthz names it): the operator
                # can fix that, so the import waits, to go on from its cursor then.
                until = timezone.now() + CREDENTIALS_RETRY
                with transaction.atomic():
                    history_import.wait_until(until, f"{WAITING_FOR_CREDENTIALS}: {exc}")
                    enqueue(import_history_task.using(run_after=until), import_id)
                logger.error(
                    "CREDENTIALS PROBLEM: history import of account %s waits until %s: %s",
                    account.instagram_id,
                    until,
                    exc,
                )
            except graph.GraphAPIError as exc:
                history_import.finish(HistoryImport.State.FAILED, str(exc))
                logger.error("History import of account %s failed: %s", account.instagram_id, exc)
            except Exception as exc:
                # Never left "running" by a surprise: failed, with the reason; importing again
                # continues from its cursor.
                history_import.finish(HistoryImport.State.FAILED, f"unexpected error: {exc!r}")
                logger.exception("History import of account %s failed", account.instagram_id)
            else:
                if not finished:
                    with transaction.atomic():
                        history_import.wait_until(timezone.now(), "")
                        enqueue(import_history_task, import_id)
                    return history_import
                history_import.finish()
                logger.info(
                    "History import of account %s done: %d conversations, %d messages "
                    "imported, %d already stored, %d API calls",
                    account.instagram_id,
                    history_import.conversations_done,
                    history_import.messages_imported,
                    history_import.messages_known,
                    history_import.api_calls,
                )
            return history_import


def _import_pages(history_import: HistoryImport, call: PacedCalls, progress, pages) -> bool:
    """Import from the cursor on; True when nothing is left, False after `pages` pages."""
    account, since = history_import.account, history_import.since
    done_pages = 0
    while True:
        made = call.made
        page = call(
            call.client.list_conversations, conversations_node(account), history_import.cursor
        )
        history_import.record_progress(
            cursor=history_import.cursor,
            done_in_page=history_import.done_in_page,
            calls=call.made - made,
        )
        for index in range(history_import.done_in_page, len(page.conversations)):
            summary = page.conversations[index]
            if since is not None and summary.updated_time < since:
                return True  # the rest of the list is older still
            made = call.made
            imported, known = _import_conversation(account, summary.id, since, call)
            history_import.record_progress(
                cursor=history_import.cursor,
                done_in_page=index + 1,
                conversations=1,
                imported=imported,
                known=known,
                calls=call.made - made,
            )
            if progress:
                progress(history_import)
        if not page.next_cursor:
            return True
        history_import.record_progress(cursor=page.next_cursor, done_in_page=0)
        done_pages += 1
        if pages is not None and done_pages >= pages:
            return False


def _import_conversation(account, conversation_id: str, since, call: PacedCalls):
    imported = known = 0
    after = ""
    while True:
        page = call(call.client.list_messages, conversation_id, after)
        for message in page.messages:
            if since is not None and message.created_time < since:
                return imported, known
            try:
                stored = store_as_history(account, message)
            except Exception:
                # One message that cannot be stored never stops the import.
                logger.exception("History import: message %s left out", message.id)
                continue
            if stored:
                imported += 1
            else:
                known += 1
        if not page.next_cursor:
            return imported, known
        after = page.next_cursor
