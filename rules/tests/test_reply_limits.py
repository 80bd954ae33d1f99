"""Meta's limits on buttons, quick replies, cards and media are checked when staff save a rule,
in the admin and the API alike, with a field error: never discovered when Meta refuses a send."""

import pytest

from rules.models import ResponseRule, outgoing_messages

pytestmark = pytest.mark.django_db

ADD = "/admin/rules/responserule/add/"


def quick(n: int, title: str = "Option") -> list[dict]:
    return [
        {"title": f"{title}{i}"[-20:] if len(title) <= 18 else title, "payload": f"P{i}"}
        for i in range(n)
    ]


TOO_MUCH = [
    ({"quick_replies": quick(14)}, "quick_replies", "At most 13 quick replies"),
    (
        {"quick_replies": [{"title": "x" * 21, "payload": "P"}]},
        "quick_replies",
        "at most 20 characters",
    ),
    ({"quick_replies": [{"title": "Small", "payload": "has spaces"}]}, "quick_replies", "payload"),
    (
        {"buttons": [{"title": f"B{i}", "payload": f"P{i}"} for i in range(4)]},
        "buttons",
        "At most 3 buttons",
    ),
    ({"buttons": [{"title": "Shop", "url": "javascript:alert(1)"}]}, "buttons", "https://"),
    (
        {"buttons": [{"title": "Both", "url": "https://a.example", "payload": "P"}]},
        "buttons",
        "one of them",
    ),
    (
        {"buttons": [{"title": "Menu", "payload": "MENU"}], "response_text": "x" * 641},
        "response_text",
        "640",
    ),
    (
        {"buttons": [{"title": "M", "payload": "M"}], "quick_replies": quick(1)},
        "buttons",
        "not both",
    ),
    ({"quick_replies": [{"title": "A", "payload": "P", "color": "red"}]}, "quick_replies", "only"),
    ({"quick_replies": "Small"}, "quick_replies", "list"),
]


def api_rule(**changes) -> dict:
    return {"keywords": "price", "response_text": "From 10 €", **changes}


@pytest.mark.parametrize("changes, field, says", TOO_MUCH)
def test_the_api_refuses_what_meta_would(api, changes, field, says):
    response = api.post("/api/rules/", api_rule(**changes), format="json")
    assert response.status_code == 400, response.json()
    assert says in str(response.json()[field])
    assert not ResponseRule.objects.exists()


def admin_lines(items: list[dict]) -> str:
    return "\n".join(f"{i['title']} -> {i.get('url') or i.get('payload')}" for i in items)


# The cases a person can type in the admin's lines (Title -> PAYLOAD or link).
ADMIN_CASES = [TOO_MUCH[i] for i in (0, 1, 2, 3, 6, 7)]


@pytest.mark.parametrize("changes, field, says", ADMIN_CASES)
def test_the_admin_refuses_what_meta_would(admin_client, changes, field, says):
    data = {
        "trigger": "keywords",
        "keywords": "price",
        "match_type": "contains",
        "response_text": changes.get("response_text", "From 10 €"),
        "priority": "0",
        "is_active": "on",
        "extra_messages-TOTAL_FORMS": "0",
        "extra_messages-INITIAL_FORMS": "0",
    }
    for name in ("quick_replies", "buttons"):
        if name in changes:
            data[name] = admin_lines(changes[name])
    response = admin_client.post(ADD, data)
    assert response.status_code == 200
    assert says in str(response.context["adminform"].form.errors[field])
    assert not ResponseRule.objects.exists()


@pytest.mark.parametrize(
    "extra, says",
    [
        ({"kind": "image", "url": ""}, "https://"),
        ({"kind": "card", "text": ""}, "needs a title"),
        ({"kind": "card", "text": "Shoe", "subtitle": "s" * 81}, "80"),
        (
            {
                "kind": "card",
                "text": "Shoe",
                "buttons": [{"title": f"B{i}", "payload": "P"} for i in range(4)],
            },
            "At most 3 buttons",
        ),
        ({"kind": "text", "text": "  "}, "cannot be empty"),
        (
            {
                "kind": "video",
                "url": "https://v.example/a.mp4",
                "buttons": [{"title": "B", "payload": "P"}],
            },
            "Only cards",
        ),
    ],
)
def test_extra_messages_are_checked_too(api, extra, says):
    response = api.post("/api/rules/", api_rule(extra_messages=[extra]), format="json")
    assert response.status_code == 400
    assert says in str(response.json()["extra_messages"])


def test_ten_cards_in_a_row_go_out_as_one_carousel(api):
    cards = [{"kind": "card", "text": f"Card {i}"} for i in range(10)]
    response = api.post("/api/rules/", api_rule(extra_messages=cards), format="json")
    assert response.status_code == 201
    rule = ResponseRule.objects.get()
    carousel, text = outgoing_messages(rule, rule.extra_messages.all())
    assert len(carousel.cards) == 10 and text.text == "From 10 €"


def test_each_trigger_needs_its_own_field(api):
    response = api.post("/api/rules/", {"trigger": "payload", "response_text": "x"}, format="json")
    assert response.status_code == 400
    assert "payload" in response.json()
    response = api.post(
        "/api/rules/", {"trigger": "welcome", "response_text": "Welcome!"}, format="json"
    )
    assert response.status_code == 201


def test_unknown_attachment_types_are_refused(api):
    response = api.post(
        "/api/rules/",
        {"trigger": "attachment", "attachment_types": "image, hologram", "response_text": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert "hologram" in str(response.json()["attachment_types"])


def test_a_whole_rule_is_saved_and_read_back_through_the_api(api):
    data = api_rule(
        trigger="payload",
        keywords="",
        payload="MAIN_MENU",
        response_text="What would you like?",
        buttons=[
            {"title": "Prices", "payload": "PRICES"},
            {"title": "Shop", "url": "https://shop.example"},
        ],
        extra_messages=[{"kind": "image", "url": "https://shop.example/welcome.jpg"}],
    )
    created = api.post("/api/rules/", data, format="json")
    assert created.status_code == 201, created.json()
    rule = api.get(f"/api/rules/{created.json()['id']}/").json()
    assert rule["buttons"] == data["buttons"]
    assert rule["extra_messages"][0]["url"] == "https://shop.example/welcome.jpg"
    # An update without extra_messages keeps them; with a list, replaces them.
    api.patch(f"/api/rules/{rule['id']}/", {"priority": 3}, format="json")
    assert ResponseRule.objects.get().extra_messages.count() == 1
    api.patch(f"/api/rules/{rule['id']}/", {"extra_messages": []}, format="json")
    assert ResponseRule.objects.get().extra_messages.count() == 0


def test_the_admin_saves_buttons_typed_one_a_line_and_shows_where_they_lead(admin_client):
    menu = ResponseRule.objects.create(
        trigger="payload", payload="MAIN_MENU", response_text="Main menu"
    )
    data = {
        "trigger": "welcome",
        "response_text": "Welcome! What brings you here?",
        "buttons": "See prices -> PRICES\nMain menu -> MAIN_MENU\nOur shop -> https://shop.example",
        "priority": "0",
        "is_active": "on",
        "extra_messages-TOTAL_FORMS": "1",
        "extra_messages-INITIAL_FORMS": "0",
        "extra_messages-0-position": "0",
        "extra_messages-0-kind": "image",
        "extra_messages-0-url": "https://shop.example/hello.jpg",
    }
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    welcome = ResponseRule.objects.get(trigger="welcome")
    assert welcome.buttons[2] == {"title": "Our shop", "url": "https://shop.example"}
    assert welcome.extra_messages.get().url == "https://shop.example/hello.jpg"
    page = admin_client.get(f"/admin/rules/responserule/{welcome.pk}/change/").content.decode()
    assert "PRICES → no active rule has this payload yet" in page
    assert f"/admin/rules/responserule/{menu.pk}/change/" in page
    menu_page = admin_client.get(f"/admin/rules/responserule/{menu.pk}/change/").content.decode()
    assert f"#{welcome.pk}" in menu_page  # reached from the welcome


def test_try_a_message_shows_the_trigger_that_wins_and_the_whole_reply(admin_client):
    ResponseRule.objects.create(keywords="price", response_text="From 10 €")
    ResponseRule.objects.create(
        trigger="welcome",
        response_text="Welcome!",
        quick_replies=[{"title": "Prices", "payload": "PRICES"}],
    )
    page = admin_client.get(
        "/admin/rules/responserule/try/", {"text": "price?", "first_message": "on"}
    ).content.decode()
    assert "a new customer&#x27;s first message" in page
    assert 'class="quick-reply">Prices<' in page
    page = admin_client.get("/admin/rules/responserule/try/", {"text": "price?"}).content.decode()
    assert "keywords in the message" in page and "From 10 €" in page


def test_at_most_ten_messages_before_the_text(api):
    extras = [{"kind": "text", "text": f"line {n}"} for n in range(11)]
    response = api.post("/api/rules/", api_rule(extra_messages=extras), format="json")
    assert response.status_code == 400
    assert "extra_messages" in response.json()


def test_more_text_before_the_rules_text_is_saved(api, admin_client):
    response = api.post(
        "/api/rules/",
        api_rule(extra_messages=[{"kind": "text", "text": "One more thing"}]),
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = {
        "trigger": "keywords",
        "keywords": "hours",
        "match_type": "contains",
        "response_text": "10-19",
        "priority": "0",
        "extra_messages-TOTAL_FORMS": "2",
        "extra_messages-INITIAL_FORMS": "0",
        "extra_messages-0-position": "0",
        "extra_messages-0-kind": "text",
        "extra_messages-0-text": "Hello!",
        "extra_messages-1-position": "1",
        "extra_messages-1-kind": "exe",
    }
    page = admin_client.post(ADD, data)
    assert page.status_code == 200  # the unknown kind is the inline's field error, not a 500
    assert "exe" in page.content.decode()
    data["extra_messages-TOTAL_FORMS"] = "1"
    assert admin_client.post(ADD, data).status_code == 302


@pytest.mark.parametrize(
    "buttons, says",
    [
        ([{"title": "Go", "url": "http://shop.example"}], "https://"),
        ([{"title": "Go", "url": "https://localhost/x"}], "public web"),
        ([{"title": "Go", "url": "https://169.254.169.254/latest/meta-data/"}], "public web"),
        ([{"title": "Go", "url": "https://[::1]/"}], "public web"),
        ([{"title": "Go", "url": "https://user:pw@shop.example/"}], "user name"),
        ([{"title": "A -> B", "payload": "P"}], "cannot hold"),
        ([{"title": "A\nB", "payload": "P"}], "cannot hold"),
    ],
)
def test_links_are_public_https_and_titles_type_back_in_the_admin(api, buttons, says):
    response = api.post("/api/rules/", api_rule(buttons=buttons), format="json")
    assert response.status_code == 400
    assert says in str(response.json()["buttons"])


def test_a_rule_saved_through_the_api_saves_unchanged_in_the_admin(api, admin_client):
    buttons = [
        {"title": "Go", "url": "https://shop.example/?a=->b"},
        {"title": "Menu", "payload": "a:b:c"},
    ]
    rule_id = api.post("/api/rules/", api_rule(buttons=buttons), format="json").json()["id"]
    page = admin_client.get(f"/admin/rules/responserule/{rule_id}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["buttons"] = form.fields["buttons"].prepare_value(form["buttons"].value())
    data.update(
        {"extra_messages-TOTAL_FORMS": "0", "extra_messages-INITIAL_FORMS": "0", "is_active": "on"}
    )
    response = admin_client.post(f"/admin/rules/responserule/{rule_id}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert ResponseRule.objects.get().buttons == buttons


@pytest.mark.parametrize(
    "line, says",
    [
        ("Go -> javascript:alert(1)", "Links start with https://"),
        ("Go -> data:text/html,x", "Links start with https://"),
        ("Go -> HTTPS://SHOP.EXAMPLE/", None),
    ],
)
def test_the_admin_tells_links_from_payloads(admin_client, line, says):
    data = {
        "trigger": "keywords",
        "keywords": "go",
        "response_text": "Go!",
        "buttons": line,
        "priority": "0",
        "extra_messages-TOTAL_FORMS": "0",
        "extra_messages-INITIAL_FORMS": "0",
    }
    response = admin_client.post(ADD, data)
    if says is None:
        assert response.status_code == 302
        assert ResponseRule.objects.get().buttons == [
            {"title": "Go", "url": "HTTPS://SHOP.EXAMPLE/"}
        ]
    else:
        assert says in str(response.context["adminform"].form.errors["buttons"])


def test_a_two_megabyte_title_is_not_echoed_back(api):
    response = api.post(
        "/api/rules/",
        api_rule(quick_replies=[{"title": "x" * 2_000_000, "payload": "A"}]),
        format="json",
    )
    assert response.status_code == 400
    assert len(response.content) < 2_000


def test_the_admin_refuses_numbers_in_other_digits_and_an_eleventh_message(admin_client):
    data = {
        "trigger": "keywords",
        "keywords": "go",
        "response_text": "Go!",
        "priority": "\u0663",
        "extra_messages-TOTAL_FORMS": "11",
        "extra_messages-INITIAL_FORMS": "0",
    }
    for n in range(11):
        data.update(
            {
                f"extra_messages-{n}-position": str(n),
                f"extra_messages-{n}-kind": "image",
                f"extra_messages-{n}-url": f"https://shop.example/{n}.jpg",
            }
        )
    response = admin_client.post(ADD, data)
    assert response.status_code == 200
    assert "digits 0-9" in str(response.context["adminform"].form.errors["priority"])
    assert "at most 10" in response.content.decode()
    assert not ResponseRule.objects.exists()


def test_try_a_message_says_what_the_bot_would_do_not_only_which_rule(admin_client, settings):
    settings.NO_TEXT_REPLY = "Thanks for the picture!"
    page = admin_client.get("/admin/rules/responserule/try/", {"attachment": "image"})
    assert "Thanks for the picture!" in page.content.decode()
    page = admin_client.get("/admin/rules/responserule/try/", {"referral_ref": "summer"})
    assert "No reply: no rule answers this link or ad" in page.content.decode()
    settings.NO_TEXT_REPLY = "none"
    page = admin_client.get("/admin/rules/responserule/try/", {"attachment": "image"})
    assert "No reply: it has no text, and NO_TEXT_REPLY is none" in page.content.decode()
