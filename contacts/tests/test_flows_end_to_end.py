"""Flow actions end to end: simulate_dm -> webhook (live server) -> `manage.py worker` ->
fake Graph API, as a customer lives them: tags and fields set, a question asked, retried and
saved, a branch taken, an A/B variant sent and what followed it counted."""

import itertools

import pytest
from django.core.management import call_command

from contacts import flows
from contacts.ab_results import variant_results
from contacts.models import Contact, ContactField, ContactTag, ReplyVariant, RuleAction, Tag
from messaging.tests.test_end_to_end import fake_graph  # noqa: F401  (fixture)
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db(transaction=True)

ANA, BO = "1234567890123456", "6543210987654321"


@pytest.fixture
def customer(live_server, fake_graph, run_worker):  # noqa: F811
    """customer(text, sender=…, **simulate_dm options) -> the texts the bot sent back."""

    def say(text, sender=ANA, **options):
        seen = len(fake_graph.calls)
        call_command(
            "simulate_dm",
            sender=sender,
            text=text,
            url=f"{live_server.url}/webhooks/instagram",
            **options,
        )
        run_worker()
        return [
            call["text"]
            for call in fake_graph.calls[seen:]
            if call.get("recipient_id") == sender and "text" in call and call["text"]
        ]

    return say


def rule(keywords="", text="", **fields) -> ResponseRule:
    trigger = "keywords" if keywords else fields.pop("trigger", "payload")
    return ResponseRule.objects.create(
        trigger=trigger, keywords=keywords, response_text=text, **fields
    )


def contact(sender=ANA) -> Contact:
    return Contact.objects.get(conversation__customer_id=sender)


def tags(sender=ANA) -> list[str]:
    return sorted(contact(sender).tags.values_list("name", flat=True))


def values(sender=ANA) -> dict:
    return dict(contact(sender).values.values_list("field__key", "value"))


def test_a_rule_tags_the_customer_and_sets_a_field_and_another_untags(customer):
    stage = ContactField.objects.create(key="stage", label="Stage")
    price = rule("price", "It is 40 euros.")
    RuleAction.objects.create(rule=price, kind="add_tag", tag="interested")
    RuleAction.objects.create(rule=price, kind="set_field", field=stage, value="lead", position=1)
    never = rule("never mind", "No problem!")
    RuleAction.objects.create(rule=never, kind="remove_tag", tag="interested")

    assert customer("price?") == ["It is 40 euros."]
    assert tags() == ["interested"] and values() == {"stage": "lead"}
    assert customer("never mind, thanks") == ["No problem!"]
    assert tags() == []
    assert Tag.objects.filter(name="interested").exists()  # the tag stays for others


def test_ask_and_save_retries_a_wrong_email_twice_then_saves_and_goes_on(customer):
    email = ContactField.objects.create(key="email", label="Email", kind="email")
    thanks = rule(text="Thanks, you're on the list!", payload="SUBSCRIBED")
    ask = rule("newsletter", "What's your email?")
    RuleAction.objects.create(
        rule=ask,
        kind="ask",
        field=email,
        retry_text="That doesn't look like an email. Could you check it?",
        then_rule=thanks,
    )

    assert customer("newsletter please") == ["What's your email?"]
    assert customer("bob at example") == ["That doesn't look like an email. Could you check it?"]
    assert customer("bob@@example.com") == ["That doesn't look like an email. Could you check it?"]
    # A third wrong answer: the question is dropped, the message is answered as any other.
    assert customer("forget it") == ["Thanks for your message! We'll get back to you soon."]
    assert values() == {} and contact().asking is None

    assert customer("newsletter") == ["What's your email?"]
    assert customer("  Bob@Example.COM ") == ["Thanks, you're on the list!"]
    assert values() == {"email": "Bob@example.com"}
    assert contact().asking is None
    # Answered: the next message is a message again, not an answer.
    assert customer("newsletter") == ["What's your email?"]


def test_a_tap_a_rule_answers_ends_the_question(customer):
    city = ContactField.objects.create(key="city", label="City")
    menu = rule(text="Here is the menu.", payload="MENU")
    ask = rule("deliver", "Which city?")
    RuleAction.objects.create(rule=ask, kind="ask", field=city, retry_text="Which?", then_rule=menu)
    assert customer("do you deliver?") == ["Which city?"]
    assert customer("Menu", postback="MENU") == ["Here is the menu."]
    assert values() == {} and contact().asking is None


def test_a_branch_goes_to_one_rule_or_the_other_on_a_tag_or_a_field(customer):
    vip = rule(text="Welcome back! Your VIP code is VIP10.", payload="VIP_HELLO")
    everyone = rule(text="Have a look at our catalogue.", payload="HELLO")
    hello = rule("hi", "Hello!")
    RuleAction.objects.create(
        rule=hello, kind="branch", tag="vip", then_rule=vip, else_rule=everyone
    )
    assert customer("hi") == ["Hello!", "Have a look at our catalogue."]

    ContactTag.objects.create(contact=contact(), tag=Tag.objects.create(name="vip"))
    assert customer("hi there") == ["Hello!", "Welcome back! Your VIP code is VIP10."]

    size = ContactField.objects.create(key="size", label="Size", kind="choice", choices="S\nL")
    large = rule(text="We have it in L.", payload="LARGE")
    stock = rule("stock", "Let me check.")
    RuleAction.objects.create(rule=stock, kind="branch", field=size, value="L", then_rule=large)
    assert customer("in stock?", sender=BO) == ["Let me check."]  # no else: nothing more
    contact(BO).values.create(field=size, value="L")
    assert customer("in stock?", sender=BO) == ["Let me check.", "We have it in L."]


def test_branches_that_loop_stop_after_a_few_rules(customer):
    first = rule("loop", "One.")
    second = rule(text="Two.", payload="TWO")
    RuleAction.objects.create(
        rule=first, kind="branch", tag="x", then_rule=second, else_rule=second
    )
    RuleAction.objects.create(rule=second, kind="branch", tag="x", then_rule=first, else_rule=first)
    sent = customer("loop")
    assert len(sent) == flows.MAX_STEPS and sent[:2] == ["One.", "Two."]


def test_ab_variants_are_sent_by_weight_and_what_followed_is_counted(
    customer, monkeypatch, admin_user
):
    promo = rule(
        "promo",
        "Our winter sale",
        quick_replies=[{"title": "Show me", "payload": "SHOW_SALE"}],
    )
    a = ReplyVariant.objects.create(rule=promo, label="A", text="Winter sale: 20% off!")
    b = ReplyVariant.objects.create(rule=promo, label="B", text="Our warmest coats, 20% off.")
    show = rule(text="Here they are.", payload="SHOW_SALE")
    RuleAction.objects.create(rule=show, kind="add_tag", tag="sale-lead")
    # The worker runs in this process: its pick by weight, made predictable (A, then B).
    picks = itertools.cycle([a, b])
    monkeypatch.setattr(flows.random, "choices", lambda variants, weights: [next(picks)])

    assert customer("promo?") == ["Winter sale: 20% off!"]
    assert customer("promo?", sender=BO) == ["Our warmest coats, 20% off."]
    assert customer("Show me", quick_reply="SHOW_SALE") == ["Here they are."]
    customer("how much is the red one?", sender=BO)

    from django.utils import timezone

    now = timezone.now()
    results = variant_results(admin_user, now - timezone.timedelta(days=1), now)
    assert [(r["variant"], r["sent"], r["tapped"], r["replied"], r["tagged"]) for r in results] == [
        ("A", 1, 1, 0, 1),
        ("B", 1, 0, 1, 0),
    ]
    assert contact().variant_sent is None and contact(BO).variant_sent is None
