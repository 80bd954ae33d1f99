"""Answering a customer's message from the account's knowledge, when no rule does: the best
entry's answer (built in), or the assistant's, under the guardrails; else None, and the core
sends the fallback (the conversation then waits under Needs a reply).

Registered with rules.matching in KnowledgeConfig.ready; runs in the transaction that stores
the message, so what it records commits with it. That transaction never waits for the AI
service: when the assistant is to be asked, it records the answer as awaited and returns a
Reply that comes later; knowledge.asking asks once the transaction has committed.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings as django_settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from accounts.encryption import EncryptionKeyError
from knowledge import assistant, index
from knowledge.assistant import Composed
from knowledge.conversation import answers_in_a_row, calls_today, recent_history
from knowledge.grounding import unsupported_claims
from knowledge.index import Match, index_for
from knowledge.models import KnowledgeAnswer, KnowledgeSettings
from messaging import worker_pass
from meta import graph
from rules.matching import Incoming, Reply, fallback_text

logger = logging.getLogger(__name__)

# The entries retrieval hands on: shown by Try a message, given to the assistant.
BEST_ENTRIES = 3
# The worker's step that asks the assistant (knowledge.asking; KnowledgeConfig.ready): it rests
# while nothing is awaited, and an answer recorded as awaited wakes it.
ASKING_STEP = "Asking the assistant"


@dataclass(frozen=True)
class KnowledgeReply:
    """A Reply's `answer`: what knowledge answered from, recorded with the message sent."""

    kind: str  # a KnowledgeAnswer.Kind value
    matches: tuple[Match, ...]  # the entries it was given or answered from, best first
    used: tuple[Match, ...] = ()  # the entries the answer came from
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_ms: int = 0
    reason: str = ""  # why the assistant's answer was not the one sent, if it was not
    # Concluding an awaited answer (knowledge.asking): its row, and the worker holding it.
    awaited_id: int | None = None
    awaited_by: str = ""

    @property
    def summary(self) -> str:
        """What staff read of it (Try a message)."""
        used = ", ".join(f"{m.entry.title} ({m.confidence:.0%})" for m in self.used or self.matches)
        if self.kind == KnowledgeAnswer.Kind.ASSISTANT:
            return (
                f"The assistant would answer ({self.model}, {self.prompt_tokens} + "
                f"{self.completion_tokens} tokens, {self.elapsed_ms} ms), from: {used}"
            )
        why = f" (the assistant did not: {self.reason})" if self.reason else ""
        return f"Knowledge would answer from: {used}{why}"

    @property
    def found(self) -> str:
        return " · ".join(
            f"{m.entry.title}: confidence {m.confidence:.0%}, score {m.score:.2f}"
            for m in self.matches
        )

    def record(self, message) -> None:
        if self.awaited_id is not None:
            # The awaited answer this worker holds (knowledge.asking), concluded.
            if not KnowledgeAnswer.conclude(
                self.awaited_id, self.awaited_by, reply=message, **self.fields()
            ):
                raise Superseded(self.awaited_id)
            return
        KnowledgeAnswer.objects.create(
            conversation_id=message.conversation_id,
            question_id=message.in_reply_to_id,
            reply=message,
            **self.fields(),
        )

    def fields(self) -> dict:
        return dict(
            kind=self.kind,
            entries=entries_json(self.used or self.matches),
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            elapsed_ms=self.elapsed_ms,
            reason=self.reason[:300],
        )


class Superseded(Exception):
    """Another worker took over the awaited answer meanwhile (this one was taken for dead):
    it records and sends it; this worker's transaction rolls back."""


@dataclass(frozen=True)
class Awaited:
    """A Reply's `answer` while the assistant is asked after the event commits."""

    answer_id: int

    @property
    def summary(self) -> str:
        return "The assistant is asked once the message is stored"


@dataclass
class Decision:
    """What knowledge would do with a message: the reply, or why not; for the worker and for
    Try a message alike."""

    reply: Reply | None
    matches: list[Match] = field(default_factory=list)
    reason: str = ""  # why it does not answer (a hand-off), or why the assistant did not
    call: dict = field(default_factory=dict)  # the AI call made for a hand-off, if any
    # The assistant is to be asked after the event's transaction: the built-in answer that
    # goes if it fails (None: the fallback), the model asked.
    awaited: tuple[Match | None, str] | None = None


def entries_json(matches) -> list[dict]:
    return [
        {"id": m.entry.id, "title": m.entry.title, "score": m.score, "confidence": m.confidence}
        for m in matches
    ]


def settings_for(account) -> KnowledgeSettings | None:
    """The account's settings when knowledge is on for it (read once a second, not a DM)."""
    settings = index.settings_for(account.pk if account else None)
    if settings is None or settings.mode == KnowledgeSettings.Mode.OFF:
        return None
    return settings


def answer_from_knowledge(account, incoming: Incoming) -> Reply | str | None:
    """The answerer rules.matching asks after the rules: a Reply, or why not (the fallback
    answers), or None when knowledge is off."""
    settings = settings_for(account)
    if settings is None:
        return None
    try:
        # A stored message: the assistant, if asked, is asked after its transaction.
        decision = decide(account, settings, incoming, ask_later=incoming.message_id is not None)
    except DatabaseError:
        raise  # the event's transaction is the caller's to retry (deadlocks, a lost connection)
    except Exception:
        # A bug here must not cost the customer their answer: the fallback goes, as without
        # knowledge, and the conversation waits for a person.
        logger.exception(
            "Knowledge failed on message %s: the fallback answers", incoming.message_id
        )
        return "Knowledge failed (see the log): the fallback answers."
    if decision.awaited is not None:
        return _await_assistant(account, incoming, decision)
    if decision.reply is None and incoming.message_id is not None:
        KnowledgeAnswer.objects.create(
            conversation_id=incoming.conversation_id,
            question_id=incoming.message_id,
            kind=KnowledgeAnswer.Kind.HANDOFF,
            entries=entries_json(decision.matches),
            reason=decision.reason[:300],
            **decision.call,
        )
        logger.info(
            "Knowledge hands message %s to a person: %s", incoming.message_id, decision.reason
        )
    if decision.reply is None:
        found = " · ".join(f"{m.entry.title} {m.confidence:.0%}" for m in decision.matches)
        return f"Knowledge hands it to a person: {decision.reason}." + (
            f" Entries found: {found}." if found else ""
        )
    return decision.reply


def decide(
    account, settings: KnowledgeSettings, incoming: Incoming, *, ask_later: bool = False
) -> Decision:
    """`ask_later`: the assistant, if it is to be asked, is not asked now (the event's
    transaction must not wait for it): the decision says so (`awaited`)."""
    started = time.monotonic()
    if incoming.conversation_id is not None:
        in_a_row = answers_in_a_row(incoming.conversation_id)
        if in_a_row >= settings.max_answers_in_a_row:
            return Decision(
                None,
                reason=f"{in_a_row} answers from knowledge in a row without a person: "
                "a person takes it from here",
            )
    matches = index_for(account.pk if account else None).search(incoming.text, BEST_ENTRIES)
    if not matches:
        return Decision(None, reason="no entry matches the question")
    built_in = matches[0] if matches[0].confidence >= settings.min_confidence else None
    composed, problem = None, ""
    if settings.mode == KnowledgeSettings.Mode.ASSISTANT:
        problem = assistant_unavailable(account, settings)
        if not problem and ask_later:
            model = settings.ai_model or django_settings.AI_MODEL
            return Decision(None, matches, awaited=(built_in, model))
        if not problem:
            composed = compose(account, settings, incoming.text, recent_history(incoming), matches)
    return concluded(settings, matches, built_in, composed, problem, started)


def concluded(
    settings: KnowledgeSettings,
    matches: list[Match],
    built_in: Match | None,
    composed: Composed | None,
    problem: str,
    started: float,
) -> Decision:
    """The assistant's answer when it gave a good one; else the built-in answer (`built_in`,
    the best entry when it is confident enough) or a hand-off, saying why."""
    if composed is not None and not composed.problem:
        return _assistant_decision(composed, matches)
    problem = composed.problem if composed else problem
    if composed is not None:
        logger.info("The assistant did not answer: %s", problem)
    # The AI call's figures, or (built in) the time retrieval took.
    call = call_fields(composed) or {"elapsed_ms": int((time.monotonic() - started) * 1000)}
    if built_in is None:
        best = matches[0]
        return Decision(
            None,
            matches,
            reason=joined(
                problem,
                f"the best entry ({best.entry.title}) covers {best.confidence:.0%} of the "
                f"question, under the threshold of {settings.min_confidence:.0%}",
            ),
            call=call,
        )
    reply = Reply(
        built_in.entry.reply_text,
        answer=KnowledgeReply(
            KnowledgeAnswer.Kind.FAQ, tuple(matches), used=(built_in,), reason=problem, **call
        ),
    )
    return Decision(reply, matches)


def _await_assistant(account, incoming: Incoming, decision: Decision) -> Reply:
    """Record that the assistant's answer is awaited (before it is asked, after this
    transaction), and the Reply that says it comes later."""
    built_in, model = decision.awaited
    awaited = KnowledgeAnswer.objects.create(
        conversation_id=incoming.conversation_id,
        question_id=incoming.message_id,
        kind=KnowledgeAnswer.Kind.AWAITING,
        entries=entries_json(decision.matches),
        # Counted in the day's budget from now: DMs arriving together do not overspend it.
        model=model,
        answer_by=timezone.now() + timedelta(seconds=django_settings.AI_TIMEOUT),
        built_in_id=built_in.entry.id if built_in else None,
    )
    # Asked in this worker's pass that stored it, once committed (the step's rest is for
    # what other workers left: their stale claims).
    transaction.on_commit(partial(worker_pass.wake, ASKING_STEP))
    logger.info("Message %s: the assistant is asked once it is stored", incoming.message_id)
    text = built_in.entry.reply_text if built_in else fallback_text(account)
    return Reply(text, answer=Awaited(awaited.pk), later=True)


def _assistant_decision(composed: Composed, matches: list[Match]) -> Decision:
    call = call_fields(composed)
    if composed.cannot_answer:
        return Decision(
            None, matches, reason="the assistant says the entries do not answer it", call=call
        )
    if claims := unsupported_claims(composed.text, matches):
        return Decision(
            None,
            matches,
            reason="the assistant's answer states what no entry does: " + ", ".join(claims)[:200],
            call=call,
        )
    answer = KnowledgeReply(
        KnowledgeAnswer.Kind.ASSISTANT, tuple(matches), used=composed.used, **call
    )
    return Decision(Reply(one_message(composed.text), answer=answer), matches)


def assistant_unavailable(account, settings: KnowledgeSettings) -> str:
    """Why the assistant cannot be asked for the account now, or ""."""
    if not django_settings.AI_BASE_URL:
        return "no AI service is set (AI_BASE_URL)"
    try:
        api_key(settings)
    except EncryptionKeyError:
        return "the account's AI API key cannot be decrypted"
    if calls_today(account) >= settings.daily_assistant_calls:
        return f"the daily budget of {settings.daily_assistant_calls} AI calls is spent"
    return ""


def api_key(settings: KnowledgeSettings) -> str:
    """The account's own AI key, else the service's; raises EncryptionKeyError when the
    account's cannot be opened."""
    return settings.ai_api_key or django_settings.AI_API_KEY


def compose(
    account,
    settings: KnowledgeSettings,
    question: str,
    history: list[tuple[str, str]],
    matches: list[Match],
    *,
    model: str = "",
    timeout: float | None = None,
) -> Composed:
    """The assistant's answer (one HTTP call, ended by `timeout`, AI_TIMEOUT by default).
    Never inside a transaction: it can take seconds."""
    try:
        key = api_key(settings)
    except EncryptionKeyError:
        return Composed(problem="the account's AI API key cannot be decrypted")
    return assistant.compose(
        question,
        history,
        matches,
        business=account.name if account else "",
        base_url=django_settings.AI_BASE_URL,
        api_key=key,
        model=model or settings.ai_model or django_settings.AI_MODEL,
        timeout=django_settings.AI_TIMEOUT if timeout is None else timeout,
    )


def call_fields(composed: Composed | None) -> dict:
    if composed is None:
        return {}
    return {
        "model": composed.model,
        "prompt_tokens": composed.prompt_tokens,
        "completion_tokens": composed.completion_tokens,
        "elapsed_ms": composed.elapsed_ms,
    }


def joined(*reasons: str) -> str:
    return "; ".join(reason for reason in reasons if reason)


def one_message(text: str) -> str:
    """An assistant's answer cut to one Instagram message (1000 bytes), at the end of a
    sentence where one ends in its second half."""
    first = graph.split_text(text)[0]
    if first == text.strip():
        return first
    end = max(first.rfind(". "), first.rfind("! "), first.rfind("? "), first.rfind("\n"))
    return first[: end + 1].strip() if end > len(first) // 2 else first
