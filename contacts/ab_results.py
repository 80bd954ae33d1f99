"""A/B variants compared: how often each was sent, and what followed (the customer's next
message was a tap or a reply; a tag was added then). For the dashboard; one grouped query."""

from datetime import datetime

from django.db.models import Count, Q

from accounts.access import scope
from contacts.models import VariantSent


def variant_results(user, first: datetime, end: datetime, account_id=None) -> list[dict]:
    """Per variant sent to the customers of `user`'s accounts in [first, end)."""
    sends = scope(VariantSent.objects.all(), user, "contact__conversation__account")
    sends = sends.filter(sent_at__gte=first, sent_at__lt=end)
    if account_id is not None:
        sends = sends.filter(contact__conversation__account_id=account_id)
    rows = (
        sends.values(
            "variant__rule_id",
            "variant__rule__keywords",
            "variant__rule__payload",
            "variant__label",
            "variant__text",
        )
        .annotate(
            sent=Count("pk"),
            tapped=Count("pk", filter=Q(tapped=True)),
            replied=Count("pk", filter=Q(replied=True)),
            tagged=Count("pk", filter=Q(tagged=True)),
        )
        .order_by("variant__rule_id", "variant__label")
    )
    return [
        {
            "rule": row["variant__rule_id"],
            # What staff know the rule by: its keywords, or the payload that starts it.
            "rule_name": row["variant__rule__keywords"] or row["variant__rule__payload"],
            "variant": row["variant__label"],
            "text": row["variant__text"],
            "sent": row["sent"],
            "tapped": row["tapped"],
            "replied": row["replied"],
            "tagged": row["tagged"],
        }
        for row in rows
    ]
