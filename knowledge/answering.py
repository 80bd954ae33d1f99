"""Answering a customer's message from the account's knowledge, when no rule does: the best
entry's answer (built in), or the assistant's, under the guardrails; else None, and the core
sends the fallback (the conversation then waits under Needs a reply).

Registered with rules.matching in KnowledgeConfig.ready; runs in the transaction that stores
the message, so what it records commits with it.
"""

import logging
from dataclasses import dataclass, field

from django.utils import timezone

from knowledge.index import Match, index_for
from knowledge.models import KnowledgeAnswer, KnowledgeSettings
from rules.matching import Incoming, Reply

logger = logging.getLogger(__name__)

# The entries retrieval hands on: shown by Try a message, given to the assistant.
BEST_ENTRIES = 3


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

    def record(self, message) -> None:
        KnowledgeAnswer.objects.create(
            conversation_id=message.conversation_id,
            question_id=message.in_reply_to_id,
            reply=message,
            kind=self.kind,
            entries=entries_json(self.used or self.matches),
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            elapsed_ms=self.elapsed_ms,
            reason=self.reason[:300],
        )


@dataclass
class Decision:
    """What knowledge would do with a message: the reply, or why not; for the worker and for
    Try a message alike."""

    reply: Reply | None
    matches: list[Match] = field(default_factory=list)
    reason: str = ""  # why it does not answer (a hand-off), or why the assistant did not


def entries_json(matches) -> list[dict]:
    return [
        {"id": m.entry.id, "title": m.entry.title, "score": m.score, "confidence": m.confidence}
        for m in matches
    ]


def settings_for(account) -> KnowledgeSettings | None:
    settings = KnowledgeSettings.objects.filter(account=account).first()
    if settings is None or settings.mode == KnowledgeSettings.Mode.OFF:
        return None
    return settings


def answer_from_knowledge(account, incoming: Incoming) -> Reply | None:
    """The answerer rules.matching asks after the rules: a Reply, or None for the fallback."""
    settings = settings_for(account)
    if settings is None:
        return None
    decision = decide(account, settings, incoming)
    if decision.reply is None and incoming.message_id is not None:
        KnowledgeAnswer.objects.create(
            conversation_id=incoming.conversation_id,
            question_id=incoming.message_id,
            kind=KnowledgeAnswer.Kind.HANDOFF,
            entries=entries_json(decision.matches),
            reason=decision.reason[:300],
        )
        logger.info(
            "Knowledge hands message %s to a person: %s", incoming.message_id, decision.reason
        )
    return decision.reply


def decide(account, settings: KnowledgeSettings, incoming: Incoming) -> Decision:
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
    best = matches[0]
    if best.confidence < settings.min_confidence:
        return Decision(
            None,
            matches,
            reason=f"the best entry ({best.entry.title}) covers {best.confidence:.0%} of the "
            f"question, under the threshold of {settings.min_confidence:.0%}",
        )
    reply = Reply(
        best.entry.reply_text,
        answer=KnowledgeReply(KnowledgeAnswer.Kind.FAQ, tuple(matches), used=(best,)),
    )
    return Decision(reply, matches)


def answers_in_a_row(conversation_id: int) -> int:
    """Answers from knowledge in this conversation since a person last wrote in it (staff in
    the inbox or the Instagram app)."""
    from messaging.models import Message

    last_person = (
        Message.objects.filter(
            conversation_id=conversation_id,
            author__in=[Message.Author.STAFF, Message.Author.BUSINESS_APP],
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    answers = KnowledgeAnswer.objects.filter(
        conversation_id=conversation_id,
        kind__in=[KnowledgeAnswer.Kind.FAQ, KnowledgeAnswer.Kind.ASSISTANT],
    )
    if last_person is not None:
        answers = answers.filter(created_at__gt=last_person)
    return answers.count()


def today():
    return timezone.now().date()
