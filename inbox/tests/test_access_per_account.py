"""Access per account: staff limited to shop A never read or change shop B's data, through the
inbox, the admin or the API, even by guessing ids: another account's rows are "not found"
exactly as missing ids are."""

import pytest
from rest_framework.test import APIClient

from inbox.models import SavedReply
from inbox.tests.conftest import SHOP_A_ID, dm, staff
from messaging.models import Conversation, Message, WebhookDelivery
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

MISSING = 987_654
# Bravo's customer: a value no id or timestamp of the test could contain by chance.
B_CUSTOMER = "99000000000000777"


@pytest.fixture
def world(deliver, shop_a, shop_b):
    """One conversation, rule and saved reply in each shop; a shared rule and snippet."""
    deliver(dm(SHOP_A_ID, "100", "m-alpha", "alpha customer here"))
    deliver(dm(shop_b.instagram_id, B_CUSTOMER, "m-bravo", "bravo customer secret"))
    return {
        "a": Conversation.objects.get(account=shop_a),
        "b": Conversation.objects.get(account=shop_b),
        "message_b": Message.objects.get(mid="m-bravo"),
        "rule_a": ResponseRule.objects.create(keywords="a", response_text="A", account=shop_a),
        "rule_b": ResponseRule.objects.create(keywords="b", response_text="B-rule", account=shop_b),
        "rule_shared": ResponseRule.objects.create(keywords="s", response_text="Shared-rule"),
        "reply_a": SavedReply.objects.create(shortcut="a", text="A-snippet", account=shop_a),
        "reply_b": SavedReply.objects.create(shortcut="b", text="B-snippet", account=shop_b),
        "shop_a": shop_a,
        "shop_b": shop_b,
    }


@pytest.fixture
def limited(client, shop_a):
    user = staff("limited", shop_a)
    client.force_login(user)
    return client


@pytest.fixture
def limited_api(shop_a):
    api = APIClient()
    api.force_authenticate(staff("limited-api", shop_a))
    return api


# --- the inbox ---


def test_the_inbox_lists_only_the_users_accounts(limited, world):
    data = limited.get("/inbox/updates").json()
    assert [c["id"] for c in data["conversations"]] == [world["a"].pk]
    page = limited.get("/inbox/").content.decode()
    assert "Alpha" in page and "Bravo" not in page


@pytest.mark.parametrize(
    "method, action",
    [
        ("get", ""),
        ("post", "/reply"),
        ("post", "/resolve"),
        ("post", "/assign"),
        ("post", "/read"),
        ("post", "/pause"),
        ("post", "/note"),
    ],
)
def test_the_inbox_answers_404_for_another_accounts_conversation(limited, world, method, action):
    for pk in (world["b"].pk, MISSING):
        response = getattr(limited, method)(f"/inbox/c/{pk}{action}", {"text": "x", "message": 1})
        assert response.status_code == 404
    assert limited.get("/inbox/updates", {"open": world["b"].pk}).status_code == 404
    world["b"].refresh_from_db()
    assert world["b"].status == "active" and not world["b"].bot_is_paused()
    assert not Message.objects.filter(author=Message.Author.STAFF).exists()


def test_the_dashboard_counts_only_the_users_accounts(limited, world):
    rows = limited.get("/api/stats/").json()["rows"]
    assert {row["account"] for row in rows} == {"Alpha (@alpha)"}
    csv = limited.get("/inbox/stats.csv").content.decode()
    assert "Bravo" not in csv
    assert "Bravo" not in limited.get("/inbox/stats/").content.decode()


# --- the admin ---


@pytest.mark.parametrize(
    "path, hidden",
    [
        ("/admin/messaging/conversation/", "bravo customer secret"),
        ("/admin/messaging/message/", "bravo customer secret"),
        ("/admin/rules/responserule/", "B-rule"),
        ("/admin/rules/responserule/", "Shared-rule"),
        ("/admin/accounts/instagrambusinessaccount/", "Bravo"),
        ("/admin/inbox/savedreply/", "B-snippet"),
    ],
)
def test_admin_lists_search_and_filters_hide_other_accounts(limited, world, path, hidden):
    assert limited.get(path).status_code == 200
    for query in ({}, {"account__id__exact": world["shop_b"].pk}):
        assert hidden not in limited.get(path, query).content.decode()
    assert "0 results" in limited.get(path, {"q": hidden}).content.decode()


def test_admin_account_filter_offers_only_the_users_accounts(limited, world):
    page = limited.get("/admin/messaging/conversation/").content.decode()
    assert f"account__id__exact={world['shop_a'].pk}" in page
    assert f"account__id__exact={world['shop_b'].pk}" not in page


def test_raw_deliveries_are_for_all_accounts_staff_only(limited, world):
    assert WebhookDelivery.objects.exists()
    page = limited.get("/admin/messaging/webhookdelivery/").content.decode()
    assert "m-bravo" not in page and "0 webhook deliveries" in page


@pytest.mark.parametrize(
    "path",
    [
        "/admin/messaging/conversation/{b}/change/",
        "/admin/messaging/conversation/{b}/thread/",
        "/admin/messaging/message/{message_b}/change/",
        "/admin/rules/responserule/{rule_b}/change/",
        "/admin/rules/responserule/{rule_shared}/change/",
        "/admin/accounts/instagrambusinessaccount/{shop_b}/change/",
        "/admin/inbox/savedreply/{reply_b}/change/",
    ],
)
def test_admin_pages_of_another_account_look_like_missing_ids(limited, world, path):
    ids = {name: getattr(value, "pk", None) for name, value in world.items()}
    guessed = limited.get(path.format(**ids))
    missing = limited.get(path.format(**dict.fromkeys(ids, MISSING)))
    assert guessed.status_code == missing.status_code
    assert guessed.status_code in (302, 404)  # Django's admin redirects for a missing id
    if guessed.status_code == 302:
        assert guessed["Location"] == missing["Location"]


def test_admin_commands_and_replies_on_another_account_are_404(limited, world):
    base = f"/admin/messaging/conversation/{world['b'].pk}"
    assert limited.post(f"{base}/reply/", {"text": "hi"}).status_code == 404
    assert limited.post(f"{base}/do/archive/").status_code == 404
    assert not Message.objects.filter(author=Message.Author.STAFF).exists()


def test_admin_actions_ignore_ids_of_another_account(limited, world):
    limited.post(
        "/admin/messaging/conversation/",
        {"action": "archive", "_selected_action": [world["a"].pk, world["b"].pk]},
    )
    world["a"].refresh_from_db()
    world["b"].refresh_from_db()
    assert (world["a"].status, world["b"].status) == ("archived", "active")
    limited.post(
        "/admin/rules/responserule/",
        {"action": "delete_selected", "_selected_action": [world["rule_b"].pk], "post": "yes"},
    )
    assert ResponseRule.objects.filter(pk=world["rule_b"].pk).exists()


def test_admin_rule_form_offers_only_the_users_accounts_and_needs_one(limited, world):
    page = limited.get("/admin/rules/responserule/add/").content.decode()
    assert "Alpha" in page and "Bravo" not in page
    data = {
        "trigger": "keywords",
        "keywords": "x",
        "match_type": "contains",
        "response_text": "y",
        "priority": 0,
        "extra_messages-TOTAL_FORMS": "0",
        "extra_messages-INITIAL_FORMS": "0",
    }
    limited.post("/admin/rules/responserule/add/", {**data, "account": world["shop_b"].pk})
    limited.post("/admin/rules/responserule/add/", data)  # shared: not theirs to add
    assert not ResponseRule.objects.filter(keywords="x").exists()
    limited.post("/admin/rules/responserule/add/", {**data, "account": world["shop_a"].pk})
    assert ResponseRule.objects.get(keywords="x").account == world["shop_a"]


def test_admin_try_a_message_offers_only_the_users_accounts(limited, world):
    page = limited.get("/admin/rules/responserule/try/").content.decode()
    assert "Alpha" in page and "Bravo" not in page


def test_limited_staff_cannot_add_accounts_or_grant_access(limited, world):
    assert limited.get("/admin/accounts/instagrambusinessaccount/add/").status_code == 403
    assert limited.get("/admin/accounts/accountaccess/").status_code == 403


# --- the API ---


@pytest.mark.parametrize(
    "path, hidden",
    [
        ("/api/conversations/", B_CUSTOMER),
        ("/api/messages/", "bravo customer secret"),
        ("/api/rules/", "B-rule"),
        ("/api/rules/", "Shared-rule"),
        ("/api/accounts/", "Bravo"),
        ("/api/saved-replies/", "B-snippet"),
    ],
)
def test_api_lists_hide_other_accounts(limited_api, world, path, hidden):
    for query in ({}, {"account": world["shop_b"].pk}):
        response = limited_api.get(path, query)
        assert response.status_code == 200
        assert hidden not in response.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/api/conversations/{b}/",
        "/api/conversations/{b}/messages/",
        "/api/messages/{message_b}/",
        "/api/rules/{rule_b}/",
        "/api/rules/{rule_shared}/",
        "/api/accounts/{shop_b}/",
        "/api/saved-replies/{reply_b}/",
    ],
)
def test_api_details_of_another_account_are_404(limited_api, world, path):
    ids = {name: getattr(value, "pk", None) for name, value in world.items()}
    assert limited_api.get(path.format(**ids)).status_code == 404


@pytest.mark.parametrize(
    "method, path, data",
    [
        ("post", "/api/conversations/{b}/reply/", {"text": "hi"}),
        ("patch", "/api/rules/{rule_b}/", {"priority": 9}),
        ("delete", "/api/rules/{rule_b}/", None),
        ("post", "/api/accounts/{shop_b}/deactivate/", None),
        ("patch", "/api/accounts/{shop_b}/", {"name": "x"}),
        ("patch", "/api/saved-replies/{reply_b}/", {"text": "x"}),
    ],
)
def test_api_changes_to_another_account_answer_as_missing_ids(
    limited_api, world, method, path, data
):
    ids = {name: getattr(value, "pk", None) for name, value in world.items()}
    guessed = getattr(limited_api, method)(path.format(**ids), data, format="json")
    missing = getattr(limited_api, method)(
        path.format(**dict.fromkeys(ids, MISSING)), data, format="json"
    )
    assert guessed.status_code == missing.status_code
    assert guessed.status_code in (403, 404)  # 403: a permission the user lacks, for any id
    assert not Message.objects.filter(author=Message.Author.STAFF).exists()
    world["shop_b"].refresh_from_db()
    assert world["shop_b"].is_active and world["shop_b"].name == "Bravo"
    assert ResponseRule.objects.get(pk=world["rule_b"].pk).priority == 0
    assert SavedReply.objects.get(pk=world["reply_b"].pk).text == "B-snippet"


def test_api_rules_cannot_be_created_on_or_moved_to_another_account(limited_api, world):
    new = {"keywords": "x", "response_text": "y"}
    to_b = limited_api.post("/api/rules/", {**new, "account": world["shop_b"].pk}, format="json")
    to_missing = limited_api.post("/api/rules/", {**new, "account": MISSING}, format="json")
    assert to_b.status_code == to_missing.status_code == 400
    assert to_b.json()["account"][0].replace(str(world["shop_b"].pk), "?") == to_missing.json()[
        "account"
    ][0].replace(str(MISSING), "?")
    assert limited_api.post("/api/rules/", new, format="json").status_code == 400  # shared
    rule_a = world["rule_a"].pk
    moved = limited_api.patch(f"/api/rules/{rule_a}/", {"account": world["shop_b"].pk})
    assert moved.status_code == 400
    assert ResponseRule.objects.get(pk=rule_a).account == world["shop_a"]
    created = limited_api.post("/api/rules/", {**new, "account": world["shop_a"].pk})
    assert created.status_code == 201


def test_api_limited_staff_cannot_add_accounts(limited_api, world):
    data = {"instagram_id": "1", "name": "New", "access_token": "EAAG-x"}
    assert limited_api.post("/api/accounts/", data, format="json").status_code == 403


def test_all_accounts_staff_and_superusers_see_everything(client, admin_client, world):
    client.force_login(staff("manager", all_accounts=True))
    for each in (client, admin_client):
        ids = {c["id"] for c in each.get("/inbox/updates").json()["conversations"]}
        assert ids == {world["a"].pk, world["b"].pk}


# --- comments and history, scoped like the rest ---


def test_another_accounts_comments_rules_and_imports_are_not_found(world):
    from django.contrib.auth.models import Permission
    from django.test import Client
    from django.utils import timezone

    from comments.models import Comment, CommentRule
    from history.models import HistoryImport

    user = staff("comments-clerk", world["shop_a"])
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=[
                "view_comment",
                "view_commentrule",
                "change_commentrule",
                "view_historyimport",
            ]
        )
    )
    secret = {"account": world["shop_b"], "instagram_account_id": world["shop_b"].instagram_id}
    comment_b = Comment.objects.create(
        comment_id="17800000000000999",
        author_id="555",
        text="b-comment",
        commented_at=timezone.now(),
        **secret,
    )
    rule_b = CommentRule.objects.create(
        account=world["shop_b"], keywords="price", private_reply_text="B-comment-rule"
    )
    import_b = HistoryImport.objects.create(account=world["shop_b"])
    browser, api = Client(), APIClient()
    browser.force_login(user)
    api.force_authenticate(user)

    assert "b-comment" not in browser.get("/admin/comments/comment/").content.decode()
    assert browser.get(f"/admin/comments/comment/{comment_b.pk}/change/").status_code == 302
    assert "B-comment-rule" not in browser.get("/admin/comments/commentrule/").content.decode()
    assert browser.get(f"/admin/history/historyimport/{import_b.pk}/change/").status_code == 302
    assert api.get("/api/comments/").json()["results"] == []
    assert api.get(f"/api/comment-rules/{rule_b.pk}/").status_code == 404
    assert api.patch(f"/api/comment-rules/{rule_b.pk}/", {"priority": 5}).status_code == 404
    media = api.get("/api/comment-rules/media/", {"account": world["shop_b"].pk})
    assert media.status_code == 400  # not one of the user's accounts: as if it did not exist


# --- the admin's autocomplete, history and delete pages ---


def autocomplete_sources():
    """Every foreign key the admin's autocomplete endpoint would answer for (its target has
    an admin with search fields), pointing at data of an account."""
    from django.apps import apps
    from django.contrib import admin

    from accounts.access import ScopedAdminMixin

    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not (field.is_relation and field.many_to_one and field.concrete):
                continue
            target = admin.site._registry.get(field.related_model)
            if isinstance(target, ScopedAdminMixin) and target.search_fields:
                yield model._meta.app_label, model._meta.model_name, field.name


def test_admin_autocomplete_offers_only_the_users_accounts_data(client, world):
    from django.contrib.auth.models import Permission

    user = staff("picker", world["shop_a"])
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_comment", "view_commentrule"])
    )
    client.force_login(user)
    sources = list(autocomplete_sources())
    assert ("messaging", "message", "conversation") in sources
    assert ("rules", "responserule", "account") in sources
    b_ids = {str(world["b"].pk), str(world["shop_b"].pk)}
    for app_label, model_name, field_name in sources:
        response = client.get(
            "/admin/autocomplete/",
            {"app_label": app_label, "model_name": model_name, "field_name": field_name},
        )
        label = f"{app_label}.{model_name}.{field_name}"
        assert response.status_code in (200, 403), label  # 403: no view permission on it
        if response.status_code == 200:
            body = response.content.decode()
            assert "Bravo" not in body and "bravo" not in body, label
            if field_name in ("conversation", "account"):
                found = {r["id"] for r in response.json()["results"]}
                assert found and not found & b_ids, label
    conversations = client.get(
        "/admin/autocomplete/",
        {"app_label": "messaging", "model_name": "message", "field_name": "conversation"},
    ).json()["results"]
    assert [r["id"] for r in conversations] == [str(world["a"].pk)]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/messaging/conversation/{b}/history/",
        "/admin/messaging/conversation/{b}/delete/",
        "/admin/rules/responserule/{rule_b}/history/",
        "/admin/rules/responserule/{rule_b}/delete/",
        "/admin/inbox/savedreply/{reply_b}/delete/",
        "/admin/accounts/instagrambusinessaccount/{shop_b}/history/",
    ],
)
def test_admin_history_and_delete_pages_of_another_account_look_like_missing_ids(
    limited, world, path
):
    ids = {name: getattr(value, "pk", None) for name, value in world.items()}
    guessed = limited.get(path.format(**ids))
    missing = limited.get(path.format(**dict.fromkeys(ids, MISSING)))
    assert guessed.status_code == missing.status_code
    assert guessed.status_code in (302, 403, 404)
    assert "Bravo" not in guessed.content.decode()
    limited.post(path.format(**ids), {"post": "yes"})
    assert ResponseRule.objects.filter(pk=world["rule_b"].pk).exists()
    assert SavedReply.objects.filter(pk=world["reply_b"].pk).exists()
    assert Conversation.objects.filter(pk=world["b"].pk).exists()


# --- the API: history imports, the dashboard's figures ---


def test_api_history_import_of_another_account_is_not_found(limited_api, world):
    path = f"/api/accounts/{world['shop_b'].pk}/import_history/"
    missing = f"/api/accounts/{MISSING}/import_history/"
    assert limited_api.get(path).status_code == limited_api.get(missing).status_code == 404
    assert limited_api.post(path, {}, format="json").status_code in (403, 404)
    from history.models import HistoryImport

    assert not HistoryImport.objects.filter(account=world["shop_b"]).exists()


def test_the_dashboards_figures_of_another_account_are_empty_everywhere(
    limited, admin_client, world
):
    Message.objects.create(
        conversation=world["b"],
        direction=Message.Direction.OUTGOING,
        author=Message.Author.BOT,
        text="B answer",
        status=Message.Status.FAILED,
        last_error="B-secret-failure",
    )
    Message.objects.create(
        conversation=world["b"],
        direction=Message.Direction.OUTGOING,
        author=Message.Author.BOT,
        text="B-rule",
        status=Message.Status.SENT,
        rule=world["rule_b"],
    )
    b = world["shop_b"].pk
    everything = admin_client.get("/api/stats/", {"account": b}).json()
    assert "B-secret-failure" in str(everything) and everything["top_rules"]
    api = limited.get("/api/stats/", {"account": b})
    assert api.status_code == 200
    body = api.content.decode()
    assert "B-secret-failure" not in body and "B-rule" not in body
    assert api.json()["rows"] == api.json()["top_rules"] == []
    for path in ("/inbox/stats/", "/inbox/stats.csv"):
        page = limited.get(path, {"account": b}).content.decode()
        assert "B-secret-failure" not in page and "Bravo" not in page and "b-rule" not in page
