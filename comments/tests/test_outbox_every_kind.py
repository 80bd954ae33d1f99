"""Every kind of send goes through one outbox, with one answer to each of Meta's (and our own)
problems: a wrong FIELD_ENCRYPTION_KEY, a rate limit, a token Meta refuses. Here a DM reply, a
private and a public reply to a comment and the answer to a mention wait together."""

import copy
from datetime import timedelta
from unittest import mock

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from comments.models import CommentReply, MentionReply
from comments.tests.conftest import comment_payload
from comments.tests.test_mentions import mention_payload, mentioned
from messaging import outbox, worker_pass
from messaging.credentials_wait import queue_work_waiting_for_credentials
from messaging.models import Message, SendThrottle, WaitingFor
from messaging.outbox import claiming
from messaging.sending import DirectMessages
from messaging.tests.conftest import load_payload, with_mid
from meta import graph

pytestmark = pytest.mark.django_db

SHOP, OTHER_SHOP = "17841400000000001", "17841400000000002"


def store_account(instagram_id: str, name: str) -> InstagramBusinessAccount:
    account = InstagramBusinessAccount(instagram_id=instagram_id, name=name, page_id="1044")
    account.set_access_token(f"EAAG-{name}-token")
    account.save()
    return account


def dm_to(account_id: str, mid: str) -> dict:
    payload = copy.deepcopy(with_mid(load_payload("messages__text"), mid, text="hello"))
    entry = payload["entry"][0]
    entry["id"] = entry["messaging"][0]["recipient"]["id"] = account_id
    return payload


def queue_every_kind(deliver, fake_meta, account_id: str, n: int) -> None:
    """A DM reply, a private and a public reply to a comment, and a mention's answer."""
    deliver(dm_to(account_id, f"aWdfZAG1dm-{account_id}"))
    deliver(
        comment_payload(
            account=account_id, comment_id=f"1786579934808{n:04d}", author=f"55{n:014d}"
        )
    )
    mentioned(fake_meta, comment_id=f"1789422797218{n:04d}")
    deliver(mention_payload(account=account_id, comment_id=f"1789422797218{n:04d}"))


def sends_of(account_id: str) -> dict[str, str]:
    """Each kind's row of the account: its status, and what it waits for."""
    dm = Message.objects.get(
        author="bot", in_reply_to__isnull=False, conversation__instagram_account_id=account_id
    )
    rows = {"dm": dm}
    for reply in CommentReply.objects.filter(instagram_account_id=account_id):
        rows[reply.kind] = reply
    rows["mention"] = MentionReply.objects.get(instagram_account_id=account_id)
    return {kind: (row.status, row.waiting_for) for kind, row in rows.items()}


def test_a_wrong_key_never_escapes_a_pass_nor_counts_an_attempt_for_any_kind(
    deliver, fake_meta, answering_rules, settings
):
    right_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [right_key]
    store_account(SHOP, "shop")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]  # the key is lost

    worker_pass.run_until_nothing_is_left()  # the worker's passes: nothing escapes them
    waiting = ("queued", WaitingFor.CREDENTIALS)
    assert sends_of(SHOP) == dict.fromkeys(["dm", "private", "public", "mention"], waiting)
    assert not fake_meta.calls
    for model in (Message, CommentReply, MentionReply):
        assert not model.objects.filter(attempts__gt=0).exists()
        assert model.objects.waiting_for_credentials().exists()

    assert queue_work_waiting_for_credentials() == 0  # still no key opens the token: they wait
    settings.FIELD_ENCRYPTION_KEY = [right_key]  # fixed: everything is due at once
    assert queue_work_waiting_for_credentials() == 4
    worker_pass.run_until_nothing_is_left()
    assert set(sends_of(SHOP).values()) == {("sent", "")}


def meta_refuses_every_call_of(token: str, error: type[graph.GraphAPIError]):
    """Meta answers `error` to every call made with `token` (as it does to a throttled account,
    or a token it refused), from any of the sender's threads; returns the calls it refused."""
    refused = []
    request = graph.InstagramClient._request

    def answer(client, method, path, **kwargs):
        if client._access_token == token:
            refused.append(path)
            raise error(f"refused by the test: {error.__name__}")
        return request(client, method, path, **kwargs)

    patch = mock.patch.object(graph.InstagramClient, "_request", answer)
    return patch, refused


def test_a_rate_limit_pauses_every_kind_for_that_account_only(deliver, fake_meta, answering_rules):
    store_account(SHOP, "shop")
    store_account(OTHER_SHOP, "other")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    queue_every_kind(deliver, fake_meta, OTHER_SHOP, 2)
    throttled, refused = meta_refuses_every_call_of("EAAG-shop-token", graph.RateLimitedError)

    with throttled:
        outbox.send_due(limit=20)

    paused = SendThrottle.objects.get(instagram_account_id=SHOP).paused_until
    assert paused > timezone.now()
    waiting = ("queued", WaitingFor.RATE)
    assert sends_of(SHOP) == dict.fromkeys(["dm", "private", "public", "mention"], waiting)
    assert set(sends_of(OTHER_SHOP).values()) == {("sent", "")}
    # Once Meta said "too fast", the shop's calls not made yet were not made: only those
    # already in flight beside it (a round's, side by side) were refused too; the mention's
    # answer (sent in the pass's thread, after them) not. None of its attempts counted.
    assert 1 <= len(refused) <= 3
    for model in (Message, CommentReply, MentionReply):
        assert not model.objects.filter(status="queued", attempts__gt=0).exists()
    assert all(reply.due_at >= paused for reply in CommentReply.objects.filter(status="queued"))


def test_a_token_meta_refuses_marks_the_account_for_every_kind(deliver, fake_meta, answering_rules):
    shop = store_account(SHOP, "shop")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    expired, refused = meta_refuses_every_call_of("EAAG-shop-token", graph.InvalidTokenError)

    with expired:
        outbox.send_due(limit=20)

    shop.refresh_from_db()
    assert shop.token_is_invalid
    statuses = {kind: status for kind, (status, _) in sends_of(SHOP).items()}
    assert statuses == dict.fromkeys(["dm", "private", "public", "mention"], "failed")
    errors = [
        *Message.objects.filter(author="bot").values_list("last_error", flat=True),
        *CommentReply.objects.values_list("last_error", flat=True),
        *MentionReply.objects.values_list("last_error", flat=True),
    ]
    # Refused by Meta, or (the calls not made yet when it refused the token) not tried.
    assert all(
        error.startswith("invalid access token") or "token is invalid since" in error
        for error in errors
    )
    assert 1 <= len(refused) <= 3
    assert sum(error.startswith("invalid access token") for error in errors) == len(refused)
    mention = MentionReply.objects.get()
    assert "token is invalid since" in mention.last_error  # after them, in the pass's thread


OUTBOX = "/admin/messaging/send/"


def test_one_admin_list_shows_every_send_filtered_by_state_kind_and_account(
    admin_client, deliver, fake_meta, answering_rules
):
    store_account(SHOP, "shop")
    store_account(OTHER_SHOP, "other")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    queue_every_kind(deliver, fake_meta, OTHER_SHOP, 2)
    fake_meta.fail_next("user_unavailable")  # the shop's DM reply fails for good
    outbox.send_due(limit=20)

    page = admin_client.get(OUTBOX).content.decode()
    assert "8 sends" in page
    for label in ("Reply", "Private reply", "Public reply", "Mention reply"):
        assert f"<td>{label}</td>" in page
    failed = admin_client.get(OUTBOX, {"state": "failed"}).content.decode()
    assert "1 send" in failed and "551" in failed
    mentions = admin_client.get(OUTBOX, {"kind": "mention_reply", "account": OTHER_SHOP})
    assert "1 send" in mentions.content.decode()
    # A crafted filter is ignored, never an error page; a NUL is refused (400) at the door.
    assert admin_client.get(OUTBOX, {"state": "x' OR 1=1", "kind": "٣"}).status_code == 200
    assert admin_client.get(OUTBOX, {"kind": "\x00"}).status_code == 400


def test_staff_see_the_sends_of_their_accounts_only(client, deliver, fake_meta, answering_rules):
    from inbox.tests.conftest import staff

    shop = store_account(SHOP, "shop")
    store_account(OTHER_SHOP, "other")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    queue_every_kind(deliver, fake_meta, OTHER_SHOP, 2)
    limited = staff("limited", shop)
    client.force_login(limited)
    # Without the comments' permissions: the DM kind only (its conversations they may view).
    assert "1 send" in client.get(OUTBOX).content.decode()

    limited.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_comment", "view_mention"])
    )
    page = client.get(OUTBOX).content.decode()
    assert "4 sends" in page
    assert OTHER_SHOP not in page
    # No page of a send by id: rows open where they belong, within the user's scope.
    other_dm = Message.objects.get(author="bot", conversation__instagram_account_id=OTHER_SHOP)
    assert client.get(f"{OUTBOX}{other_dm.pk}/change/").status_code == 404
    # Another account's id in the filter is no way in: the filter is ignored.
    asked = client.get(OUTBOX, {"account": OTHER_SHOP}).content.decode()
    assert "4 sends" in asked and OTHER_SHOP not in asked


def test_healthz_counts_the_backlog_of_every_kind(client, deliver, fake_meta, answering_rules):
    store_account(SHOP, "shop")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    assert client.get("/healthz").json()["queue"]["backlog"] == 4
    outbox.send_due(limit=20)
    assert client.get("/healthz").json()["queue"]["backlog"] == 0


def test_a_bug_in_one_kind_never_stops_the_others(deliver, fake_meta, answering_rules, caplog):
    store_account(SHOP, "shop")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    with mock.patch.object(DirectMessages, "send", side_effect=RuntimeError("a bug")):
        outbox.send_due(limit=20)
    states = sends_of(SHOP)
    assert states.pop("dm") == ("sending", "")  # left for the stall sweep
    assert set(states.values()) == {("sent", "")}
    assert "the send failed unexpectedly" in caplog.text


def test_a_pass_with_nothing_due_asks_every_kind_in_one_statement(
    deliver, fake_meta, answering_rules, django_assert_num_queries
):
    store_account(SHOP, "shop")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    outbox.send_due(limit=20)
    assert set(sends_of(SHOP).values()) == {("sent", "")}
    # Every pass of the worker asks the outbox (a DM's pass, then the idle pass after it):
    # with nothing due, one statement over every kind's table.
    with django_assert_num_queries(1):
        assert outbox.send_due() == 0


def test_the_one_statement_finds_a_row_due_of_any_kind(deliver, fake_meta, answering_rules):
    store_account(SHOP, "shop")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    now = timezone.now()
    due = {kind.name for kind in claiming.kinds_with_rows_due(now)}
    assert due == {"dm", "private_reply", "public_reply", "mention_reply"}
    outbox.send_due(limit=20)
    assert claiming.kinds_with_rows_due(timezone.now()) == []


def test_the_one_statement_asks_about_the_moment_it_is_given(deliver, fake_meta, answering_rules):
    store_account(SHOP, "shop")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    now = timezone.now()
    later = now + timedelta(minutes=5)
    CommentReply.objects.update(due_at=later)  # the comment's private and public replies
    MentionReply.objects.update(due_at=later)
    # Compiled once for every look (the kinds do not change): each look's moment is its own.
    assert claiming.kinds_with_rows_due(now - timedelta(minutes=5)) == []
    assert [kind.name for kind in claiming.kinds_with_rows_due(now)] == ["dm"]
    due_later = {kind.name for kind in claiming.kinds_with_rows_due(later)}
    assert due_later == {"dm", "private_reply", "public_reply", "mention_reply"}
