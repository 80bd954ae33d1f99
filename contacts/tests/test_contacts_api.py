"""/api/contacts/ and /api/contact-fields/: filters, changes, access per account, CSV, and
hostile input answered with a 400, never a 500."""

import io

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from contacts.models import Contact, ContactField, FieldValue
from inbox.tests.conftest import SHOP_B_ID, make_account, staff

pytestmark = pytest.mark.django_db

CONTACT_PERMISSIONS = ["view_contact", "change_contact", "view_contactfield", "add_contactfield"]


def make_contact(account, customer: str, username: str = "", **fields) -> Contact:
    from messaging.models import Conversation

    conversation = Conversation.objects.create(
        instagram_account_id=account.instagram_id,
        account=account,
        customer_id=customer,
        customer_username=username,
    )
    return Contact.objects.create(conversation=conversation, **fields)


@pytest.fixture
def shops(db):
    return make_account("17841400000000001", "Alpha"), make_account(SHOP_B_ID, "Bravo")


@pytest.fixture
def city(shops):
    return ContactField.objects.create(account=shops[0], key="city", label="City")


@pytest.fixture
def limited(shops):
    """Staff of shop A only, who may view and change contacts."""
    user = staff("limited", shops[0])
    user.user_permissions.add(*Permission.objects.filter(codename__in=CONTACT_PERMISSIONS))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_staff_change_tags_and_fields_and_filter_by_them(api, shops, city):
    ana = make_contact(shops[0], "1001", "ana")
    make_contact(shops[0], "1002", "bo", source="ad")
    answer = api.patch(
        f"/api/contacts/{ana.pk}/",
        {"tags": ["vip", "paris", "vip"], "fields": {"city": " Paris "}, "notes": "likes red"},
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["tags"] == ["paris", "vip"]
    assert answer.json()["fields"] == {"city": "Paris"}
    assert answer.json()["username"] == "ana"

    def usernames(query):
        found = api.get(f"/api/contacts/?{query}")
        assert found.status_code == 200, found.json()
        return [c["username"] for c in found.json()["results"]]

    assert usernames("tag=vip") == ["ana"]
    assert usernames("tag=vip&tag=nope") == []
    assert usernames("field=city:paris") == ["ana"]
    assert usernames("field=city") == ["ana"]
    assert usernames("source=ad") == ["bo"]
    assert sorted(usernames("last_seen_after=2000-01-01")) == ["ana", "bo"]
    assert usernames("last_seen_before=2000-01-01") == []


def test_a_field_value_is_checked_for_its_type(api, shops):
    contact = make_contact(shops[0], "1001")
    ContactField.objects.create(account=shops[0], key="age", label="Age", kind="number")
    ContactField.objects.create(account=shops[0], key="email", label="Email", kind="email")
    ContactField.objects.create(
        account=shops[0], key="size", label="Size", kind="choice", choices="S\nM\nL"
    )
    for fields, problem in [
        ({"age": "٣٣"}, "digits 0-9"),  # Unicode digits are not a number here
        ({"email": "ana@"}, "valid email"),
        ({"size": "XL"}, "Choose one of"),
        ({"nope": "1"}, "No field"),
    ]:
        answer = api.patch(f"/api/contacts/{contact.pk}/", {"fields": fields}, format="json")
        assert answer.status_code == 400, fields
        assert problem in str(answer.json()), answer.json()
    answer = api.patch(
        f"/api/contacts/{contact.pk}/",
        {"fields": {"age": "33", "email": "Ana@Example.COM", "size": "m"}},
        format="json",
    )
    assert answer.json()["fields"] == {"age": "33", "email": "Ana@example.com", "size": "M"}


@pytest.mark.parametrize(
    "body",
    [
        {"fields": {"city": "x" * 2_000_000}},
        {"notes": "x" * 2_000_000},
        {"fields": {"city": "Par\x00is"}},
        {"tags": ["a\x00b"]},
        {"tags": "vip"},
        {"fields": ["city"]},
        {"opted_out": "perhaps"},
    ],
)
def test_hostile_changes_are_refused_with_a_400(api, shops, city, body):
    contact = make_contact(shops[0], "1001")
    answer = api.patch(f"/api/contacts/{contact.pk}/", body, format="json")
    assert answer.status_code == 400
    assert not FieldValue.objects.exists()


def test_an_email_with_a_lone_surrogate_is_refused(api, shops):
    contact = make_contact(shops[0], "1001")
    ContactField.objects.create(account=shops[0], key="email", label="Email", kind="email")
    body = b'{"fields": {"email": "ana\\ud800@example.com"}}'
    answer = api.generic(
        "PATCH", f"/api/contacts/{contact.pk}/", body, content_type="application/json"
    )
    assert answer.status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        "last_seen_after=yesterday",
        "last_seen_after=\uff12\uff10\uff12\uff16-01-01",
        "source=tv",
        "account=\u0661",
    ],
)
def test_bad_filters_are_a_400(api, shops, query):
    assert api.get(f"/api/contacts/?{query}").status_code == 400


def test_staff_see_and_change_only_their_accounts_contacts(limited, shops):
    mine = make_contact(shops[0], "1001", "mine")
    theirs = make_contact(shops[1], "2002", "theirs")
    listed = limited.get("/api/contacts/").json()["results"]
    assert [c["username"] for c in listed] == ["mine"]
    assert limited.get(f"/api/contacts/{theirs.pk}/").status_code == 404
    assert limited.patch(f"/api/contacts/{theirs.pk}/", {"notes": "x"}).status_code == 404
    assert limited.patch(f"/api/contacts/{mine.pk}/", {"notes": "x"}).status_code == 200
    export = b"".join(limited.get("/api/contacts/export/").streaming_content).decode()
    assert "1001" in export and "2002" not in export


def test_fields_are_defined_per_account(limited, shops):
    answer = limited.post(
        "/api/contact-fields/", {"account": shops[1].pk, "key": "city", "label": "City"}
    )
    assert answer.status_code == 400  # not their account
    answer = limited.post(
        "/api/contact-fields/",
        {"account": shops[0].pk, "key": "size", "label": "Size", "kind": "choice"},
    )
    assert answer.status_code == 400 and "choices" in answer.json()
    answer = limited.post(
        "/api/contact-fields/", {"account": shops[0].pk, "key": "City!", "label": "City"}
    )
    assert answer.status_code == 400 and "key" in answer.json()


def test_csv_export_then_import_updates_contacts_and_reports_the_rest(api, shops, city):
    ana = make_contact(shops[0], "1001", "ana")
    make_contact(shops[1], "2002", "bo")
    api.patch(
        f"/api/contacts/{ana.pk}/", {"tags": ["vip"], "fields": {"city": "Paris"}}, format="json"
    )
    exported = b"".join(api.get("/api/contacts/export/?tag=vip").streaming_content).decode()
    lines = exported.splitlines()
    assert lines[0].endswith("tags,notes,field:city")
    assert len(lines) == 2 and "Paris" in lines[1]

    edited = exported.replace("Paris", "Lyon").replace(",vip,", ',"vip, fan",')
    edited += "17841400000000001,9999,,,,,,,,,,\n"  # nobody we know
    edited += f"{shops[0].instagram_id},1001,,,,,,,maybe,,,\n"
    answer = api.post(
        "/api/contacts/import/",
        {"file": io.BytesIO(edited.encode())},
        format="multipart",
    )
    assert answer.status_code == 200, answer.json()
    report = answer.json()
    assert report["updated"] == 1
    assert [row["line"] for row in report["skipped"]] == [3, 4]
    contact = api.get(f"/api/contacts/{ana.pk}/").json()
    assert contact["fields"] == {"city": "Lyon"} and contact["tags"] == ["fan", "vip"]


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe not utf-8", b"account,customer_id\n1,\x002\n", b"just,some,columns\n1,2,3\n"],
)
def test_an_unreadable_import_is_a_400(api, shops, data):
    answer = api.post("/api/contacts/import/", {"file": io.BytesIO(data)}, format="multipart")
    assert answer.status_code == 400
    assert "file" in answer.json()


def test_an_exported_formula_is_kept_as_text(api, shops, city):
    ana = make_contact(shops[0], "1001", "ana")
    api.patch(f"/api/contacts/{ana.pk}/", {"notes": '=HYPERLINK("x")'}, format="json")
    exported = b"".join(api.get("/api/contacts/export/").streaming_content).decode()
    assert "'=HYPERLINK" in exported


def test_an_import_can_be_the_csv_body_itself(api, shops, city):
    make_contact(shops[0], "1001", "ana")
    body = b"account,customer_id,field:city\n17841400000000001,1001,Lyon\n"
    answer = api.post(
        "/api/contacts/import/",
        body,
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {"updated": 1, "skipped": []}
    assert FieldValue.objects.get().value == "Lyon"


def test_importing_needs_the_permission_to_change_contacts(shops):
    user = staff("reader", shops[0])
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client = APIClient()
    client.force_authenticate(user)
    data = {"file": io.BytesIO(b"account,customer_id\n")}
    assert client.post("/api/contacts/import/", data, format="multipart").status_code == 403
