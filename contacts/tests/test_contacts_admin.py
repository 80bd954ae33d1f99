"""Contacts in the admin: filtered lists, a contact's tags and fields edited on its page,
CSV export and import, access per account."""

import io

import pytest
from django.contrib.auth.models import Permission

from contacts.models import ContactField, FieldValue
from contacts.tests.test_contacts_api import CONTACT_PERMISSIONS, make_contact
from inbox.tests.conftest import SHOP_B_ID, make_account, staff

pytestmark = pytest.mark.django_db

LIST = "/admin/contacts/contact/"


@pytest.fixture
def shops(db):
    return make_account("17841400000000001", "Alpha"), make_account(SHOP_B_ID, "Bravo")


def change_form(contact, **changes):
    data = {"tag_names": "", "notes": "", **changes}
    return data


def test_staff_edit_tags_and_fields_on_a_contacts_page(admin_client, shops):
    contact = make_contact(shops[0], "1001", "ana")
    ContactField.objects.create(account=shops[0], key="age", label="Age", kind="number")
    page = admin_client.get(f"{LIST}{contact.pk}/change/")
    assert page.status_code == 200 and b"Age" in page.content
    refused = admin_client.post(
        f"{LIST}{contact.pk}/change/", change_form(contact, field_age="٤٢", tag_names="vip")
    )
    assert refused.status_code == 200 and b"digits 0-9" in refused.content
    saved = admin_client.post(
        f"{LIST}{contact.pk}/change/", change_form(contact, field_age="42", tag_names="vip, fan")
    )
    assert saved.status_code == 302
    assert FieldValue.objects.get().value == "42"
    assert sorted(contact.tags.values_list("name", flat=True)) == ["fan", "vip"]
    huge = admin_client.post(f"{LIST}{contact.pk}/change/", change_form(contact, notes="x" * 2**21))
    assert huge.status_code == 200 and b"at most" in huge.content


def test_the_list_filters_by_tag_field_source_and_last_seen(admin_client, shops):
    ana = make_contact(shops[0], "1001", "ana", source="ad")
    make_contact(shops[0], "1002", "bo")
    city = ContactField.objects.create(account=shops[0], key="city", label="City")
    FieldValue.objects.create(contact=ana, field=city, value="Paris")
    admin_client.post(
        f"{LIST}{ana.pk}/change/", change_form(ana, tag_names="vip", field_city="Paris")
    )
    for query in [
        "tag=vip",
        "field=city",
        "source=ad",
        "last_seen_at__gte=2000-01-01+00:00:00%2B00:00&opted_out=no",
    ]:
        page = admin_client.get(f"{LIST}?{query}")
        assert page.status_code == 200, query
        assert b"@ana" in page.content, query
        assert (b"@bo" in page.content) == query.startswith("last_seen"), query
    assert admin_client.get(f"{LIST}?notes__regex=.*").status_code == 400


def test_limited_staff_see_only_their_accounts_contacts(client, shops):
    user = staff("limited", shops[0])
    user.user_permissions.add(*Permission.objects.filter(codename__in=CONTACT_PERMISSIONS))
    client.force_login(user)
    mine, theirs = make_contact(shops[0], "1001", "mine"), make_contact(shops[1], "2002", "theirs")
    page = client.get(LIST)
    assert b"@mine" in page.content and b"@theirs" not in page.content
    assert client.get(f"{LIST}{theirs.pk}/change/").status_code == 302  # "not found" redirect
    assert client.get(f"{LIST}{mine.pk}/change/").status_code == 200


def test_export_and_import_from_the_admin(admin_client, shops):
    ana = make_contact(shops[0], "1001", "ana")
    exported = admin_client.post(LIST, {"action": "export_csv", "_selected_action": [ana.pk]})
    text = b"".join(exported.streaming_content).decode()
    assert text.splitlines()[1].startswith("17841400000000001,1001,ana")
    edited = text.replace(",no,,", ",yes,vip,")
    answer = admin_client.post(f"{LIST}import/", {"file": io.BytesIO(edited.encode())})
    assert answer.status_code == 302
    ana.refresh_from_db()
    assert ana.opted_out
    assert list(ana.tags.values_list("name", flat=True)) == ["vip"]
    bad = admin_client.post(f"{LIST}import/", {"file": io.BytesIO(b"\xff\xfe")})
    assert bad.status_code == 200 and b"not UTF-8" in bad.content


@pytest.mark.parametrize(
    "field, kind, value, problem",
    [
        ("city", "text", "x" * 2_000_000, "at most 1000 characters"),
        ("city", "text", "Par\x00is", "Null characters are not allowed"),
        ("age", "number", "\uff14\uff12", "digits 0-9"),  # full-width digits
        ("age", "number", "\u0664\u0662", "digits 0-9"),  # Arabic-Indic digits
        ("email", "email", "ana\ufffd@example.com", "valid email"),  # a form's lone surrogate
        ("size", "choice", "XL", "Choose one of"),
        ("born", "date", "\u0662\u0660\u0662\u0666-01-01", "YYYY-MM-DD"),
        ("phone", "phone", "call me", "phone number"),
    ],
)
def test_a_hostile_value_on_a_contacts_page_is_the_fields_error(
    admin_client, shops, field, kind, value, problem
):
    contact = make_contact(shops[0], "1001", "ana")
    ContactField.objects.create(
        account=shops[0], key=field, label=field.title(), kind=kind, choices="S\nM"
    )
    page = admin_client.post(
        f"{LIST}{contact.pk}/change/", change_form(contact, **{f"field_{field}": value})
    )
    assert page.status_code == 200
    assert problem in page.content.decode().replace("&#x27;", "'"), problem
    assert not FieldValue.objects.exists()


def test_the_list_filters_by_a_fields_value(admin_client, shops):
    city = ContactField.objects.create(account=shops[0], key="city", label="City")
    ana, bo = make_contact(shops[0], "1001", "ana"), make_contact(shops[0], "1002", "bo")
    FieldValue.objects.create(contact=ana, field=city, value="Paris")
    FieldValue.objects.create(contact=bo, field=city, value="Lyon")
    page = admin_client.get(f"{LIST}?field=city:paris").content
    assert b"@ana" in page and b"@bo" not in page
    page = admin_client.get(f"{LIST}?field=city").content
    assert b"@ana" in page and b"@bo" in page


def test_limited_staff_see_only_their_accounts_fields_and_tags(client, shops):
    from rest_framework.test import APIClient

    from contacts.models import Tag

    user = staff("limited", shops[0])
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="contacts"),
    )
    client.force_login(user)
    mine = ContactField.objects.create(account=shops[0], key="city", label="Our city")
    theirs = ContactField.objects.create(account=shops[1], key="size", label="Their size")
    my_tag = Tag.objects.create(account=shops[0], name="our-vip")
    their_tag = Tag.objects.create(account=shops[1], name="their-vip")

    fields = client.get("/admin/contacts/contactfield/").content.decode()
    assert "Our city" in fields and "Their size" not in fields
    assert client.get(f"/admin/contacts/contactfield/{theirs.pk}/change/").status_code == 302
    assert client.get(f"/admin/contacts/contactfield/{mine.pk}/change/").status_code == 200
    tags = client.get("/admin/contacts/tag/").content.decode()
    assert "our-vip" in tags and "their-vip" not in tags
    assert client.get(f"/admin/contacts/tag/{their_tag.pk}/change/").status_code == 302
    assert client.get(f"/admin/contacts/tag/{my_tag.pk}/change/").status_code == 200
    # The contacts list's filters offer only their own tags and fields.
    contacts = client.get(LIST).content.decode()
    assert "their-vip" not in contacts and "Their size" not in contacts

    api = APIClient()
    api.force_authenticate(user)
    listed = api.get("/api/contact-fields/").json()["results"]
    assert [f["key"] for f in listed] == ["city"]
    assert api.get(f"/api/contact-fields/{theirs.pk}/").status_code == 404
    assert api.patch(f"/api/contact-fields/{theirs.pk}/", {"label": "x"}).status_code == 404
    assert api.delete(f"/api/contact-fields/{theirs.pk}/").status_code == 404
