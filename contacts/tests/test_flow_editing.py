"""Flow actions and A/B variants edited in the admin (on the rule's page) and the API, checked
when saved; access per account as for the rules themselves."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from contacts.models import ContactField, ReplyVariant, RuleAction
from inbox.tests.conftest import SHOP_B_ID, make_account, staff
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def shops(db):
    return make_account("17841400000000001", "Alpha"), make_account(SHOP_B_ID, "Bravo")


@pytest.fixture
def rules(shops):
    def make(account, text, **fields):
        return ResponseRule.objects.create(
            account=account, keywords=text.split()[0], response_text=text, **fields
        )

    return {
        "ask": make(shops[0], "email? What's your email?"),
        "thanks": make(shops[0], "thanks Thanks!"),
        "other": make(shops[1], "bravo Bravo's rule"),
    }


@pytest.fixture
def email(shops):
    return ContactField.objects.create(account=shops[0], key="email", label="Email", kind="email")


def action(rule, **fields):
    return {"rule": rule.pk, **fields}


def test_the_api_saves_actions_that_make_sense(api, rules, email):
    answer = api.post(
        "/api/rule-actions/",
        action(
            rules["ask"],
            kind="ask",
            field=email.pk,
            retry_text="Again?",
            then_rule=rules["thanks"].pk,
        ),
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    answer = api.post(
        "/api/rule-actions/",
        action(rules["thanks"], kind="add_tag", tag=" subscribed "),
        format="json",
    )
    assert answer.status_code == 201 and answer.json()["tag"] == "subscribed"
    listed = api.get(f"/api/rule-actions/?rule={rules['ask'].pk}").json()["results"]
    assert [a["kind"] for a in listed] == ["ask"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"kind": "ask", "retry_text": "Again?"}, "field"),
        ({"kind": "ask", "field": "EMAIL", "then_rule": "THANKS"}, "retry_text"),
        ({"kind": "ask", "field": "EMAIL", "retry_text": "Again?"}, "then_rule"),
        ({"kind": "set_field", "field": "EMAIL", "value": "not an email"}, "value"),
        ({"kind": "add_tag", "tag": ""}, "tag"),
        ({"kind": "add_tag", "tag": "x" * 2_000_000}, "tag"),
        ({"kind": "add_tag", "tag": "a\x00b"}, "tag"),
        ({"kind": "branch", "tag": "vip", "field": "EMAIL", "then_rule": "THANKS"}, "tag"),
        ({"kind": "branch", "tag": "vip", "then_rule": "ASK"}, "then_rule"),  # itself
        ({"kind": "branch", "tag": "vip", "then_rule": "OTHER"}, "then_rule"),  # other account
        ({"kind": "add_tag", "tag": "vip", "then_rule": "THANKS"}, "then_rule"),
        ({"kind": "teleport"}, "kind"),
        ({"kind": "add_tag", "tag": "vip", "position": "\u0663"}, "position"),
    ],
)
def test_the_api_refuses_actions_that_do_not(api, rules, email, fields, problem):
    names = {"EMAIL": email.pk, "THANKS": rules["thanks"].pk, "ASK": rules["ask"].pk}
    names["OTHER"] = rules["other"].pk
    body = {key: names.get(value, value) for key, value in fields.items()}
    answer = api.post("/api/rule-actions/", action(rules["ask"], **body), format="json")
    assert answer.status_code == 400
    assert problem in answer.json(), answer.json()
    assert not RuleAction.objects.exists()


def test_a_question_or_a_branch_comes_last(api, rules, email):
    RuleAction.objects.create(
        rule=rules["ask"], kind="ask", field=email, retry_text="Again?", then_rule=rules["thanks"]
    )
    answer = api.post(
        "/api/rule-actions/",
        action(rules["ask"], kind="add_tag", tag="x", position=5),
        format="json",
    )
    assert answer.status_code == 400 and "last action" in str(answer.json())


def test_variants_are_checked(api, rules):
    buttons = ResponseRule.objects.create(
        account=rules["ask"].account,
        keywords="menu",
        response_text="Menu",
        buttons=[{"title": "Shop", "url": "https://shop.example"}],
    )
    ok = api.post(
        "/api/reply-variants/", {"rule": buttons.pk, "label": "A", "text": "Hi"}, format="json"
    )
    assert ok.status_code == 201
    for body, problem in [
        ({"label": "B", "text": "x" * 641}, "text"),
        ({"label": "B", "text": "x" * 2_000_000}, "text"),
        ({"label": "B", "text": "Hi", "weight": 0}, "weight"),
        ({"label": "A", "text": "Hi again"}, "non_field_errors"),  # one variant per label
    ]:
        answer = api.post("/api/reply-variants/", {"rule": buttons.pk, **body}, format="json")
        assert answer.status_code == 400 and problem in answer.json(), (body, answer.json())


def test_staff_edit_only_their_accounts_flows(shops, rules, email):
    user = staff("limited", shops[0])
    codenames = ["view_ruleaction", "add_ruleaction", "change_ruleaction", "view_replyvariant"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = APIClient()
    client.force_authenticate(user)
    theirs = RuleAction.objects.create(rule=rules["other"], kind="add_tag", tag="x")
    assert client.get(f"/api/rule-actions/{theirs.pk}/").status_code == 404
    assert client.get("/api/rule-actions/").json()["results"] == []
    answer = client.post(
        "/api/rule-actions/", action(rules["other"], kind="add_tag", tag="y"), format="json"
    )
    assert answer.status_code == 400 and "rule" in answer.json()
    answer = client.post(
        "/api/rule-actions/", action(rules["ask"], kind="add_tag", tag="y"), format="json"
    )
    assert answer.status_code == 201


def rule_page(rule, **extra):
    data = {
        "trigger": "keywords",
        "keywords": rule.keywords,
        "match_type": "contains",
        "response_text": rule.response_text,
        "quick_replies": "",
        "buttons": "",
        "account": rule.account_id,
        "priority": "0",
        "is_active": "on",
        "extra_messages-TOTAL_FORMS": "0",
        "extra_messages-INITIAL_FORMS": "0",
        "actions-TOTAL_FORMS": "0",
        "actions-INITIAL_FORMS": "0",
        "variants-TOTAL_FORMS": "0",
        "variants-INITIAL_FORMS": "0",
    }
    data.update(extra)
    return data


def test_the_rules_page_edits_its_actions_and_variants(admin_client, rules, email):
    url = f"/admin/rules/responserule/{rules['ask'].pk}/change/"
    page = admin_client.get(url)
    assert b"Flow actions" in page.content and b"A/B variants" in page.content
    ask = {
        "actions-TOTAL_FORMS": "1",
        "actions-0-position": "0",
        "actions-0-kind": "ask",
        "actions-0-field": email.pk,
        "actions-0-retry_text": "",
        "actions-0-then_rule": rules["thanks"].pk,
    }
    refused = admin_client.post(url, rule_page(rules["ask"], **ask))
    assert refused.status_code == 200 and b"Say what the customer gets" in refused.content
    ask["actions-0-retry_text"] = "That is not an email. Again?"
    variants = {
        "variants-TOTAL_FORMS": "2",
        "variants-0-label": "A",
        "variants-0-weight": "3",
        "variants-0-text": "What's your email? (A)",
        "variants-1-label": "B",
        "variants-1-weight": "1",
        "variants-1-text": "Your email, please? (B)",
    }
    saved = admin_client.post(url, rule_page(rules["ask"], **ask, **variants))
    assert saved.status_code == 302
    assert RuleAction.objects.get().retry_text == "That is not an email. Again?"
    assert sorted(ReplyVariant.objects.values_list("label", "weight")) == [("A", 3), ("B", 1)]
    # Posted without the flow sections (a script, an old page): they stay as they are.
    minimal = rule_page(rules["ask"])
    for key in [k for k in minimal if k.startswith(("actions-", "variants-"))]:
        del minimal[key]
    assert admin_client.post(url, minimal).status_code == 302
    assert RuleAction.objects.count() == 1 and ReplyVariant.objects.count() == 2


def test_changing_a_flow_renews_every_process_rules(rules, email):
    from django.utils import timezone

    def touched(rule):
        rule.refresh_from_db()
        return rule.updated_at

    before = touched(rules["ask"])
    RuleAction.objects.create(
        rule=rules["ask"], kind="set_field", field=email, value="a@example.com"
    )
    assert touched(rules["ask"]) > before
    before = touched(rules["ask"])
    assert timezone.now() > before
    email.delete()  # its action loses it: the rule changed
    assert touched(rules["ask"]) > before
    assert RuleAction.objects.get().field is None
