"""Knowledge entries: limits checked at save, the admin and /api/knowledge/ per account, CSV."""

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from instabot.text_limits import REPLY_MAX_LENGTH
from knowledge.models import QUESTIONS_PER_ENTRY, KnowledgeEntry
from knowledge.transfer import ImportRefused, export_csv, import_csv

pytestmark = pytest.mark.django_db


def entry(**fields) -> KnowledgeEntry:
    values = {"title": "Opening hours", "questions": "When do you open?", "answer": "10 to 19"}
    return KnowledgeEntry(**{**values, **fields})


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"questions": " \n \n"}, "questions"),
        ({"questions": "\n".join(f"q{n}" for n in range(QUESTIONS_PER_ENTRY + 1))}, "questions"),
        ({"questions": "x" * 301}, "questions"),
        ({"answer": "   "}, "answer"),
        ({"answer": "x" * (REPLY_MAX_LENGTH + 1)}, "answer"),
        # The answer fits, the link under it does not.
        ({"answer": "x" * (REPLY_MAX_LENGTH - 10), "link": "https://shop.example/x"}, "answer"),
        ({"link": "http://shop.example"}, "link"),
        ({"link": "javascript:alert(1)"}, "link"),
    ],
)
def test_an_entry_over_its_limits_is_refused_at_save(fields, field):
    with pytest.raises(ValidationError) as refused:
        entry(**fields).full_clean()
    assert field in refused.value.message_dict


def test_the_reply_is_the_answer_and_its_link_under_it():
    assert entry(link="https://shop.example/hours").reply_text() == (
        "10 to 19\nhttps://shop.example/hours"
    )


def test_api_crud_scoped_per_account(api, client, shop_a, shop_b, knowledge_staff):
    created = api.post(
        "/api/knowledge/",
        {
            "title": "Returns",
            "questions": "Can I return it?\n¿Puedo devolverlo?",
            "answer": "30 days.",
            "account": shop_a.pk,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    KnowledgeEntry.objects.create(
        account=shop_b, title="B's secret", questions="q", answer="b only"
    )
    KnowledgeEntry.objects.create(title="Shared", questions="q", answer="everyone")

    client.force_login(knowledge_staff)
    listed = client.get("/api/knowledge/").json()["results"]
    assert [e["title"] for e in listed] == ["Returns"]
    b_entry = KnowledgeEntry.objects.get(account=shop_b)
    assert client.get(f"/api/knowledge/{b_entry.pk}/").status_code == 404
    # Another account's id in a body: refused as a missing id is.
    moved = client.patch(
        f"/api/knowledge/{created.json()['id']}/",
        {"account": shop_b.pk},
        content_type="application/json",
    )
    assert moved.status_code == 400
    assert KnowledgeEntry.objects.get(pk=created.json()["id"]).account == shop_a


def test_api_refuses_an_answer_too_long_with_its_link(api):
    response = api.post(
        "/api/knowledge/",
        {
            "title": "T",
            "questions": "q",
            "answer": "x" * (REPLY_MAX_LENGTH - 5),
            "link": "https://shop.example/long",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "answer" in response.json()


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_api_refuses_nul_and_lone_surrogates(api, text):
    body = (
        f'{{"title": "T", "questions": "q", "answer": "{text.encode("unicode_escape").decode()}"}}'
    )
    response = api.post("/api/knowledge/", body, content_type="application/json")
    assert response.status_code == 400
    assert not KnowledgeEntry.objects.exists()


def test_csv_export_then_import_updates_and_creates(admin_user, shop_a):
    kept = KnowledgeEntry.objects.create(
        account=shop_a, title="Hours", questions="When?\nWhat time?", answer="9-5"
    )
    exported = export_csv(KnowledgeEntry.objects.all())
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows[0]["questions"] == "When?\nWhat time?"
    rows[0]["answer"] = "10-6"
    rows.append({**rows[0], "id": "", "title": "Returns", "active": "no"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=rows[0].keys())
    writer.writeheader()
    writer.writerows(rows)

    done = import_csv(out.getvalue().encode(), admin_user)

    assert (done.created, done.updated) == (1, 1)
    kept.refresh_from_db()
    assert kept.answer == "10-6"
    assert not KnowledgeEntry.objects.get(title="Returns").is_active


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"title,questions,answer\nA,q,a\x00", "NUL"),
        (b"title,answer\nA,a", "Missing columns: questions"),
        (b"title,questions,answer\nA,q,   \n", "Row 2 answer"),
        (b"title,questions,answer,account\nA,q,a,\xd9\xa1\n", "Row 2 account"),
        (b"title,questions,answer,active\nA,q,a,maybe\n", "Row 2 active"),
        (b"id,title,questions,answer\n99999999999999999999,A,q,a\n", "Row 2 id"),
        (b"id,title,questions,answer\n12345,A,q,a\n", "No entry 12345"),
    ],
)
def test_csv_import_refuses_a_bad_file_whole(admin_user, data, problem):
    good_row = b"title,questions,answer\nFine,q,a\n"
    assert import_csv(good_row, admin_user).created == 1
    with pytest.raises(ImportRefused) as refused:
        import_csv(data, admin_user)
    assert problem in "; ".join(refused.value.problems)
    assert KnowledgeEntry.objects.count() == 1


def test_csv_import_into_another_account_is_refused(shop_a, shop_b, limited_user):
    data = f"title,questions,answer,account\nA,q,a,{shop_b.pk}\n".encode()
    with pytest.raises(ImportRefused, match="Choose one of your accounts"):
        import_csv(data, limited_user)
    # Shared entries are for staff who see every account.
    with pytest.raises(ImportRefused, match="Choose one of your accounts"):
        import_csv(b"title,questions,answer\nA,q,a\n", limited_user)
    done = import_csv(f"title,questions,answer,account\nA,q,a,{shop_a.pk}\n".encode(), limited_user)
    assert done.created == 1


def test_api_import_and_export(api, shop_a):
    upload = SimpleUploadedFile(
        "k.csv", "title,questions,answer\nHours,Quand ouvrez-vous ?,9-5 ☕\n".encode()
    )
    response = api.post("/api/knowledge/import/", {"file": upload}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 1, "updated": 0}
    bad = SimpleUploadedFile("k.csv", b"title,questions,answer\nHours,,9-5\n")
    refused = api.post("/api/knowledge/import/", {"file": bad}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["problems"][0].startswith("Row 2 questions")
    exported = api.get("/api/knowledge/export/")
    assert exported["Content-Type"] == "text/csv"
    assert "Quand ouvrez-vous ?" in exported.content.decode()


def test_admin_lists_imports_and_exports(admin_client, shop_a):
    KnowledgeEntry.objects.create(account=shop_a, title="Hours", questions="q", answer="9-5")
    listing = admin_client.get("/admin/knowledge/knowledgeentry/")
    assert listing.status_code == 200
    assert b"Import CSV" in listing.content
    upload = SimpleUploadedFile("k.csv", b"title,questions,answer\nReturns,q,,\n")
    page = admin_client.post("/admin/knowledge/knowledgeentry/import/", {"file": upload})
    assert page.status_code == 200
    assert b"Nothing was imported" in page.content
    upload = SimpleUploadedFile("k.csv", b"title,questions,answer\nReturns,q,30 days\n")
    done = admin_client.post("/admin/knowledge/knowledgeentry/import/", {"file": upload})
    assert done.status_code == 302
    exported = admin_client.post(
        "/admin/knowledge/knowledgeentry/",
        {
            "action": "export_selected",
            "_selected_action": list(KnowledgeEntry.objects.values_list("pk", flat=True)),
        },
    )
    assert "Returns" in exported.content.decode()


def test_admin_settings_keep_the_stored_key_when_left_empty(admin_client, shop_a, settings):
    from cryptography.fernet import Fernet

    from knowledge.models import KnowledgeSettings

    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    form = {
        "account": shop_a.pk,
        "mode": "assistant",
        "min_confidence": "0.5",
        "max_answers_in_a_row": "3",
        "daily_assistant_calls": "10",
        "ai_model": "",
        "ai_api_key": "sk-secret",
    }
    assert admin_client.post("/admin/knowledge/knowledgesettings/add/", form).status_code == 302
    stored = KnowledgeSettings.objects.get()
    assert stored.ai_api_key == "sk-secret"
    page = admin_client.get(f"/admin/knowledge/knowledgesettings/{stored.pk}/change/")
    assert b"sk-secret" not in page.content
    changed = {**form, "ai_api_key": "", "min_confidence": "0.7"}
    admin_client.post(f"/admin/knowledge/knowledgesettings/{stored.pk}/change/", changed)
    stored.refresh_from_db()
    assert (stored.ai_api_key, stored.min_confidence) == ("sk-secret", 0.7)
    arabic = {**form, "min_confidence": "\u0660.\u0665"}
    page = admin_client.post(f"/admin/knowledge/knowledgesettings/{stored.pk}/change/", arabic)
    assert b"digits 0-9" in page.content
