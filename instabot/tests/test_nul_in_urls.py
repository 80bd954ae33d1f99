"""A NUL in a URL is a 400 from every door, never a 500 (PostgreSQL refuses it in a query):
the API's lists, the admin's filters, search and autocomplete, the inbox."""

import pytest

pytestmark = pytest.mark.django_db

URLS = [
    "/api/conversations/?status=%00",
    "/api/messages/?direction=%00",
    "/api/rules/?match_type=a%00b",
    "/api/comments/?status=%00",
    "/api/mentions/?st%00atus=1",
    "/admin/messaging/conversation/?status__exact=%00",
    "/admin/messaging/conversation/?q=%00",
    "/admin/messaging/message/?q=price%00",
    "/admin/rules/responserule/?q=%00",
    "/admin/comments/comment/?q=%00",
    "/admin/accounts/instagrambusinessaccount/?q=%00",
    "/admin/autocomplete/?term=%00&app_label=accounts&model_name=accountaccess&field_name=account",
    "/admin/messaging/conversation/%00/change/",
    "/inbox/updates?view=%00",
    "/inbox/updates?q=%00",
    "/inbox/stats/?account=%00",
    "/inbox/stats.csv?days=%00",
]


@pytest.mark.parametrize("url", URLS)
def test_a_nul_in_the_url_is_400(admin_client, url, caplog):
    response = admin_client.get(url)
    assert response.status_code == 400
    assert b"NUL" in response.content
    assert "a NUL character in the URL" in caplog.text


@pytest.mark.parametrize("url", URLS[:6])
def test_the_same_urls_without_the_nul_are_answered(admin_client, url):
    assert admin_client.get(url.replace("%00", "")).status_code in (200, 400)
