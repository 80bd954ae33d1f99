"""What knowledge reads of a conversation before it answers: the last few messages (the
assistant's context), the answers from knowledge in a row since a person wrote, the calls to
the AI service today (the budget)."""

from django.utils import timezone

from knowledge.models import KnowledgeAnswer
from rules.matching import Incoming

# The conversation the assistant sees before the question: its last few messages.
HISTORY_MESSAGES = 6


def recent_history(incoming: Incoming) -> list[tuple[str, str]]:
    """(role, text) of the messages before the question, oldest first: "user" the
    customer's, "assistant" the business's (bot or staff)."""
    from messaging.models import Message

    if incoming.conversation_id is None:
        return []
    earlier = (
        Message.objects.filter(conversation_id=incoming.conversation_id)
        .exclude(pk=incoming.message_id)
        .exclude(text="")
        .order_by("-created_at", "-id")
        .values_list("direction", "text")[:HISTORY_MESSAGES]
    )
    return [
        ("user" if direction == Message.Direction.INCOMING else "assistant", text[:1000])
        for direction, text in reversed(earlier)
    ]


def calls_today(account) -> int:
    """Calls to the AI service today (UTC) for the account's conversations: recorded with
    every answer and hand-off that made one."""
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        KnowledgeAnswer.objects.filter(conversation__account=account, created_at__gte=midnight)
        .exclude(model="")
        .count()
    )


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
    # One awaiting the assistant counts: it is likely an answer.
    answers = KnowledgeAnswer.objects.filter(
        conversation_id=conversation_id,
        kind__in=[
            KnowledgeAnswer.Kind.FAQ,
            KnowledgeAnswer.Kind.ASSISTANT,
            KnowledgeAnswer.Kind.AWAITING,
        ],
    )
    if last_person is not None:
        answers = answers.filter(created_at__gt=last_person)
    return answers.count()
