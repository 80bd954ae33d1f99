"""Shared by the connect tests: the fake Graph API with Meta's login pages, and walking a
staff user through a login with Django's test client."""

from urllib.parse import parse_qs, urlsplit

import requests


def authorize(client, login: str, decision: str = "allow") -> dict:
    """Start the login as the client's user and answer Meta's page; returns the query Meta
    sends back to our callback (code and state, or the error)."""
    started = client.get(f"/accounts/connect/{login}/")
    assert started.status_code == 302, started.content
    dialog = started["Location"]
    page = requests.get(dialog, timeout=5)
    assert page.status_code == 200 and "Allow" in page.text
    fields = {k: v[0] for k, v in parse_qs(urlsplit(dialog).query).items()}
    base = dialog.split("/oauth/authorize")[0].split("/v21.0/")[0]
    decided = requests.post(
        f"{base}/_fake/oauth/decide",
        data={
            "login": "instagram" if login == "instagram_login" else "facebook",
            "redirect_uri": fields["redirect_uri"],
            "state": fields.get("state", ""),
            "client_id": fields["client_id"],
            "scope": fields["scope"],
            "decision": decision,
        },
        allow_redirects=False,
        timeout=5,
    )
    back = urlsplit(decided.headers["Location"])
    assert back.path == f"/accounts/connect/{login}/callback"
    return {k: v[0] for k, v in parse_qs(back.query).items()}


def come_back(client, login: str, query: dict):
    return client.get(f"/accounts/connect/{login}/callback", query)
