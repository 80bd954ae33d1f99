"""What staff see of knowledge's answers in a thread, and their verdict on one: good, or
wrong (the conversation then waits for a person, under Needs a reply)."""

from django.utils import timezone

from knowledge.models import KnowledgeAnswer

VERDICTS = (KnowledgeAnswer.Verdict.GOOD, KnowledgeAnswer.Verdict.WRONG)


class NotJudged(ValueError):
    """The verdict could not be recorded as asked; nothing changed."""


def answers_for(message_ids) -> dict[int, KnowledgeAnswer]:
    """The knowledge answers sent as these messages (by message id): one query."""
    return {
        answer.reply_id: answer
        for answer in KnowledgeAnswer.objects.filter(reply_id__in=list(message_ids))
    }


def answer_json(answer: KnowledgeAnswer | None) -> dict | None:
    if answer is None:
        return None
    return {
        "id": answer.pk,
        "kind": answer.kind,
        "label": "assistant" if answer.kind == KnowledgeAnswer.Kind.ASSISTANT else "knowledge",
        "titles": [entry["title"] for entry in answer.entries],
        "verdict": answer.verdict,
    }


def judge(conversation, answer_id, verdict: str, user) -> KnowledgeAnswer:
    """Record staff's verdict on an answer of this conversation. Raises NotJudged."""
    if verdict not in VERDICTS:
        raise NotJudged("The verdict is good or wrong.")
    if not (isinstance(answer_id, str) and answer_id.isascii() and answer_id.isdigit()):
        raise NotJudged("answer must be an answer's id.")
    answer = KnowledgeAnswer.objects.filter(
        pk=int(answer_id[:18]), conversation=conversation, reply__isnull=False
    ).first()
    if answer is None:
        raise NotJudged("No such answer in this conversation.")
    now = timezone.now()
    KnowledgeAnswer.objects.filter(pk=answer.pk).update(
        verdict=verdict, judged_by=user, judged_at=now
    )
    answer.verdict, answer.judged_by, answer.judged_at = verdict, user, now
    if verdict == KnowledgeAnswer.Verdict.WRONG:
        # The customer got a wrong answer: a person owes them a right one.
        conversation.await_person(now)
    return answer
