"""Asking the assistant after the DM's transaction committed: a step of every worker's pass
(registered in KnowledgeConfig.ready), so that no transaction, lock or database write waits on
the AI service, and the worker's pass takes deliveries while the assistant is being asked.

The event's transaction stored the message and an awaited answer (KnowledgeAnswer, kind
awaiting: the entries found, the built-in answer that goes should the assistant fail, the
moment it goes whatever happens, `answer_by`). Here a worker claims awaited answers (a
conditional UPDATE: one worker asks once), asks the assistant for each in a thread (DMs
arriving together do not wait for each other's calls, nor for the worker), each call ended by
`answer_by`, and, in the pass's thread, queues what comes of each as an ordinary bot reply
through the outbox: the assistant's answer, else the built-in answer, else the fallback (the
conversation then waits under Needs a reply); nothing when a person took over or the bot was
paused meanwhile.

A worker that dies while asking leaves its claim: once the claim is older than AI_TIMEOUT and
CLAIM_GRACE, another worker takes it and sends the built-in answer or the fallback without
asking again. An answer awaited past its `answer_by` (no worker was free) goes the same way.
"""

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from knowledge import answering
from knowledge.assistant import Composed
from knowledge.conversation import recent_history
from knowledge.index import Match, index_for
from knowledge.models import KnowledgeAnswer, KnowledgeSettings
from messaging import replies
from messaging.sending import send_reply
from messaging.worker_identity import this_worker
from rules.matching import Incoming, Reply, fallback_text

logger = logging.getLogger(__name__)

# Calls to the assistant a worker has in flight at most (each in a thread of its own).
ASKED_AT_ONCE = 8
# While only waiting for calls in flight, the step waits this long for one to end.
IN_FLIGHT_WAIT = 0.1
# Beyond AI_TIMEOUT, how long a claim may last before its worker counts as dead: the call is
# over by then; recording and queuing its outcome takes milliseconds.
CLAIM_GRACE = timedelta(seconds=2)
# Less time left than this before `answer_by`: not worth a call.
MIN_CALL_SECONDS = 0.5

Kind = KnowledgeAnswer.Kind


@dataclass
class Job:
    awaited: KnowledgeAnswer
    matches: list[Match]
    settings: KnowledgeSettings | None
    call: partial | None = None  # the assistant's call, or None: it is not asked
    why_not: str = ""  # why it is not asked
    composed: Composed | None = None


# The calls in flight in this process: awaited answer -> (its job, its call).
_asking: dict[int, tuple[Job, Future]] = {}
_pool: ThreadPoolExecutor | None = None


def ask_awaited(limit: int = ASKED_AT_ONCE) -> int:
    """The worker's step: conclude the answers whose call ended (queue and send what comes of
    each), claim awaited answers up to `limit` in flight and start their calls, each in a
    thread (the pass goes on meanwhile: deliveries are taken while the assistant is asked).
    Returns how much it did or has in flight (0: nothing awaited)."""
    done = _conclude_answered()
    claimed = _claim_and_ask(limit - len(_asking)) if len(_asking) < limit else 0
    if _asking and not done and not claimed:
        # Only waiting: a moment's wait for a call to end, then the pass goes on (a worker's
        # loop runs passes back to back while this step has work in flight).
        wait([call for _, call in _asking.values()], IN_FLIGHT_WAIT, FIRST_COMPLETED)
        done = _conclude_answered()
    return done + claimed + len(_asking)


def _claim_and_ask(room: int) -> int:
    now = timezone.now()
    me = this_worker()
    stale_before = now - timedelta(seconds=django_settings.AI_TIMEOUT) - CLAIM_GRACE
    waiting = (
        KnowledgeAnswer.objects.filter(kind=Kind.AWAITING)
        .filter(Q(claimed_by="") | Q(claimed_at__lt=stale_before))
        .exclude(pk__in=list(_asking))
        .order_by("answer_by", "id")
    )
    candidates = list(waiting.values_list("pk", flat=True)[:room])
    claimed = [pk for pk in candidates if KnowledgeAnswer.claim(pk, me, now, stale_before)]
    if not claimed:
        return 0
    awaited = KnowledgeAnswer.objects.filter(pk__in=claimed, claimed_by=me).select_related(
        "question", "conversation__account"
    )
    for row in awaited:
        job = _job(row, now)
        if job.call is None:
            _conclude(job, me)
        else:
            # Only HTTP in these threads: no database connection is opened in them.
            _asking[row.pk] = (job, _threads().submit(job.call))
    return len(claimed)


def _threads() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(ASKED_AT_ONCE, thread_name_prefix="assistant")
    return _pool


def _conclude_answered() -> int:
    answered = [pk for pk, (_, call) in _asking.items() if call.done()]
    for pk in answered:
        job, call = _asking.pop(pk)
        try:
            job.composed = call.result()
        except Exception:
            # A bug in the call must not cost the DM: the built-in answer or the fallback.
            logger.exception("Asking the assistant for answer %s failed", pk)
            job.why_not = "asking the assistant failed (see the log)"
        _conclude(job, this_worker())
    return len(answered)


def _job(awaited: KnowledgeAnswer, now) -> Job:
    account = awaited.conversation.account
    settings = answering.settings_for(account)
    entries = {entry.id: entry for entry in index_for(account.pk if account else None).entries}
    matches = [
        Match(entries[given["id"]], given["score"], given["confidence"])
        for given in awaited.entries
        if given.get("id") in entries
    ]
    job = Job(awaited, matches, settings)
    left = (awaited.answer_by - now).total_seconds() if awaited.answer_by else 0
    if settings is None or settings.mode != KnowledgeSettings.Mode.ASSISTANT:
        job.why_not = "the assistant was switched off meanwhile"
    elif not matches:
        job.why_not = "the entries found were changed meanwhile"
    elif left < MIN_CALL_SECONDS:
        # Its worker died while asking, or no worker was free in time.
        job.why_not = "the assistant was not asked within AI_TIMEOUT"
    else:
        question = awaited.question
        incoming = Incoming(
            text=question.text, message_id=question.pk, conversation_id=question.conversation_id
        )
        history = recent_history(incoming)
        job.call = partial(
            answering.compose,
            account,
            settings,
            question.text,
            history,
            matches,
            model=awaited.model,
            timeout=left,
        )
    return job


def _conclude(job: Job, me: str) -> None:
    awaited = job.awaited
    account = awaited.conversation.account
    settings = job.settings or KnowledgeSettings()
    built_in = next((m for m in job.matches if m.entry.id == awaited.built_in_id), None)
    if job.matches:
        decision = answering.concluded(
            settings, job.matches, built_in, job.composed, job.why_not, time.monotonic()
        )
    else:
        decision = answering.Decision(None, reason=job.why_not)
    reply = decision.reply
    if reply is not None:
        # The answer records itself when queued, concluding the awaited row.
        reply = Reply(reply.text, answer=_concluding(reply.answer, awaited.pk, me))
    else:
        reply = Reply(fallback_text(account))
    try:
        with transaction.atomic():
            queued, silence = replies.queue_late_bot_reply(awaited.question, reply)
            if queued is None or reply.is_fallback:
                # A hand-off (the fallback went, or nothing: a person took over meanwhile).
                reason = answering.joined(
                    decision.reason, f"not sent: {silence}" if silence else ""
                )
                fields = {**_call_of(decision, job.composed), "reason": reason[:300]}
                if not job.composed:
                    fields["model"] = ""  # no call was made: not counted in the budget
                if not KnowledgeAnswer.conclude(
                    awaited.pk,
                    me,
                    kind=Kind.HANDOFF,
                    entries=answering.entries_json(decision.matches or job.matches),
                    **fields,
                ):
                    raise answering.Superseded(awaited.pk)
    except answering.Superseded:
        logger.warning("Awaited answer %s was taken over by another worker", awaited.pk)
        return
    if queued is None:
        logger.info("Message %s: no answer sent: %s", awaited.question_id, silence)
        return
    send_reply(queued.pk)


def _concluding(answer: answering.KnowledgeReply, awaited_id: int, me: str):
    return replace(answer, awaited_id=awaited_id, awaited_by=me)


def _call_of(decision: answering.Decision, composed: Composed | None) -> dict:
    call = decision.call or answering.call_fields(composed)
    return {
        key: call[key]
        for key in ("model", "prompt_tokens", "completion_tokens", "elapsed_ms")
        if key in call
    }
