"""Hostile CSV files, through the API and the admin's import page: refused whole with a clear
400 (or the form's error), never a 500, nothing changed; exported cells a spreadsheet would run
as formulas are written as text, and come back unchanged through an import."""

import csv
import io

import pytest

from contacts.models import Contact, ContactField, FieldValue
from contacts.tests.test_contacts_api import make_contact
from inbox.tests.conftest import SHOP_B_ID, make_account

pytestmark = pytest.mark.django_db

SHOP = "17841400000000001"
IMPORT_PAGE = "/admin/contacts/contact/import/"


@pytest.fixture
def shops(db):
    return make_account(SHOP, "Alpha"), make_account(SHOP_B_ID, "Bravo")


@pytest.fixture
def ana(shops):
    ContactField.objects.create(account=shops[0], key="city", label="City")
    return make_contact(shops[0], "1001", "ana")


HOSTILE_FILES = {
    # A 2 MB cell: Python's csv reader stops at 128 KB.
    "a 2 MB field": (
        f"account,customer_id,field:city\n{SHOP},1001,{'x' * 2_000_000}\n".encode(),
        "larger than 128 KB",
    ),
    # A lone surrogate as a program writes it (CESU/WTF-8 bytes): not UTF-8.
    "a lone surrogate": (
        f"account,customer_id,notes\n{SHOP},1001,".encode() + b"ana\xed\xa0\x80\n",
        "not UTF-8",
    ),
    "a column an export does not have": (
        f"account,customer_id,colour\n{SHOP},1001,red\n".encode(),
        "Unknown columns: 'colour'",
    ),
    "a column named twice": (
        f"account,customer_id,tags,tags\n{SHOP},1001,vip,fan\n".encode(),
        "Columns named twice: tags",
    ),
    "no account column": (b"customer_id,tags\n1001,vip\n", "with account and customer_id"),
    "a NUL": (f"account,customer_id,notes\n{SHOP},1001,a\x00b\n".encode(), "NUL"),
    "an empty file": (b"", "with account and customer_id"),
}


@pytest.mark.parametrize("data, problem", HOSTILE_FILES.values(), ids=HOSTILE_FILES.keys())
def test_a_hostile_file_is_a_400_through_the_api(api, ana, data, problem):
    answer = api.post("/api/contacts/import/", {"file": io.BytesIO(data)}, format="multipart")
    assert answer.status_code == 400, answer.content[:300]
    assert problem in " ".join(answer.json()["file"])
    assert not FieldValue.objects.exists()
    assert Contact.objects.get().notes == ""


# An empty upload is the form's own error (below).
ON_THE_PAGE = {name: case for name, case in HOSTILE_FILES.items() if case[0]}


@pytest.mark.parametrize("data, problem", ON_THE_PAGE.values(), ids=ON_THE_PAGE.keys())
def test_a_hostile_file_is_the_import_pages_error(admin_client, ana, data, problem):
    answer = admin_client.post(IMPORT_PAGE, {"file": io.BytesIO(data)})
    assert answer.status_code == 200
    assert problem in answer.content.decode().replace("&#x27;", "'")
    assert not FieldValue.objects.exists()


def test_an_empty_upload_is_the_forms_error(admin_client, ana):
    upload = io.BytesIO(b"")
    upload.name = "contacts.csv"
    answer = admin_client.post(IMPORT_PAGE, {"file": upload})
    assert answer.status_code == 200 and b"empty" in answer.content


def test_a_long_value_in_a_row_skips_that_row_only(api, shops, ana):
    make_contact(shops[0], "1002", "bo")
    data = (
        f"account,customer_id,field:city\n{SHOP},1001,{'x' * 1_500}\n{SHOP},1002,Lyon\n"
    ).encode()
    answer = api.post("/api/contacts/import/", {"file": io.BytesIO(data)}, format="multipart")
    assert answer.status_code == 200
    report = answer.json()
    assert report["updated"] == 1
    assert report["skipped"][0]["line"] == 2
    assert "at most 1,000 characters" in report["skipped"][0]["problems"][0]
    assert FieldValue.objects.get().value == "Lyon"


FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", '=HYPERLINK("x")']


def test_formulas_are_exported_as_text_and_imported_back_unchanged(api, shops, ana):
    Contact.objects.filter(pk=ana.pk).update(name='=HYPERLINK("https://evil.example")')
    for formula in FORMULAS:
        answer = api.patch(
            f"/api/contacts/{ana.pk}/",
            {"tags": [formula], "fields": {"city": formula}, "notes": formula},
            format="json",
        )
        assert answer.status_code == 200, answer.json()
        exported = b"".join(api.get("/api/contacts/export/").streaming_content)
        # The cells as a spreadsheet reads them: each behind a quote, text.
        header, row = list(csv.reader(io.StringIO(exported.decode(), newline="")))
        cells = dict(zip(header, row, strict=True))
        for column in ("name", "tags", "notes", "field:city"):
            assert cells[column].startswith("'"), (column, cells[column])
            assert cells[column][1:2] in "=+-@\t"

        answer = api.post(
            "/api/contacts/import/", {"file": io.BytesIO(exported)}, format="multipart"
        )
        assert answer.json() == {"updated": 1, "skipped": []}, formula
        contact = api.get(f"/api/contacts/{ana.pk}/").json()
        assert contact["tags"] == [formula.strip()]
        assert contact["fields"] == {"city": formula.strip()}
        assert contact["notes"] == formula.strip()
