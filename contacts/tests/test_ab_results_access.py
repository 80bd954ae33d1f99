"""The dashboard's A/B comparison counts only the variants sent to the user's accounts'
customers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.ab_results import variant_results
from contacts.models import ReplyVariant, VariantSent
from contacts.tests.test_contacts_api import make_contact
from inbox.tests.conftest import SHOP_B_ID, make_account, staff
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db


def test_a_limited_user_sees_only_their_accounts_variants(admin_user):
    shops = make_account("17841400000000001", "Alpha"), make_account(SHOP_B_ID, "Bravo")
    for shop, label in zip(shops, ["ours", "theirs"], strict=True):
        rule = ResponseRule.objects.create(account=shop, keywords=label, response_text="x")
        variant = ReplyVariant.objects.create(rule=rule, label=label, text=label, weight=1)
        contact = make_contact(shop, f"{label}-1")
        VariantSent.objects.create(variant=variant, contact=contact, tapped=True, tagged=True)
        VariantSent.objects.create(variant=variant, contact=contact, replied=True)
    now = timezone.now()
    bounds = now - timedelta(days=1), now + timedelta(days=1)

    limited = staff("limited", shops[0])
    [row] = variant_results(limited, *bounds)
    assert (row["variant"], row["sent"], row["tapped"], row["replied"], row["tagged"]) == (
        "ours",
        2,
        1,
        1,
        1,
    )
    assert variant_results(limited, *bounds, account_id=shops[1].pk) == []
    assert sorted(r["variant"] for r in variant_results(admin_user, *bounds)) == ["ours", "theirs"]
