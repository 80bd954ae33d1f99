"""The dashboard's knowledge figures: DMs answered from knowledge and by the assistant, handed
to a person, and answers staff marked wrong; one aggregate query."""

from django.db.models import Count, Q

from knowledge.models import KnowledgeAnswer

Kind = KnowledgeAnswer.Kind


def answers_between(start, end):
    return KnowledgeAnswer.objects.filter(created_at__gte=start, created_at__lt=end)


def counts(answers) -> dict[str, int]:
    """`answers`: KnowledgeAnswer rows, already scoped to the user's accounts and the range."""
    return answers.aggregate(
        from_knowledge=Count("id", filter=Q(kind=Kind.FAQ)),
        by_assistant=Count("id", filter=Q(kind=Kind.ASSISTANT)),
        handed_off=Count("id", filter=Q(kind=Kind.HANDOFF)),
        marked_wrong=Count("id", filter=Q(verdict=KnowledgeAnswer.Verdict.WRONG)),
    )
