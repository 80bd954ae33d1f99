"""The README's receiving side, run as written: it accepts a delivery as instabot signs it, and
refuses one altered, signed with another secret, or replayed later."""

import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import responses

from contacts import editing
from contacts.models import Contact
from messaging import outbox
from messaging.models import Conversation
from outgoing_webhooks.tests.conftest import HOOK_URL

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_receiver():
    """verified_event(secret, headers, body), from the README's Python block after "The
    receiving side"."""
    text = README.read_text()
    after = text[text.index("The receiving side (Python)") :]
    code = re.search(r"```python\n(.*?)```", after, re.S).group(1)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102  (our own README)
    return namespace["verified_event"]


def test_the_readmes_receiver_verifies_a_real_delivery(endpoint, receiver, shops):
    verified_event = readme_receiver()
    receiver.add(responses.POST, HOOK_URL, json={"ok": True})
    conversation = Conversation.objects.create(
        instagram_account_id=shops[0].instagram_id,
        account=shops[0],
        customer_id="1001",
        customer_username="ana",
    )
    contact = Contact.objects.create(conversation=conversation)
    editing.apply_change(contact, editing.Change(tags=["vip"]))
    while outbox.send_due() or outbox.settle():
        pass

    request = receiver.calls[0].request
    event = verified_event(endpoint.secret, request.headers, request.body)
    assert event["event"] == "contact.tag_added" and event["data"]["tag"] == "vip"

    with pytest.raises(ValueError, match="not signed"):
        verified_event(endpoint.secret, request.headers, request.body.replace(b"vip", b"VIP"))
    with pytest.raises(ValueError, match="not signed"):
        verified_event("whsec_someone-else", request.headers, request.body)
    later = dict(request.headers)
    later["X-Instabot-Timestamp"] = str(int(later["X-Instabot-Timestamp"]) + 1)
    with pytest.raises(ValueError, match="not signed"):
        verified_event(endpoint.secret, later, request.body)  # a new time, the old signature
    # The same delivery, ten minutes later: refused as a replay.
    verified_event.__globals__["time"] = SimpleNamespace(time=lambda: time.time() + 600)
    with pytest.raises(ValueError, match="replay"):
        verified_event(endpoint.secret, request.headers, request.body)
