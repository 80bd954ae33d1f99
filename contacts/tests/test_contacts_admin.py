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
