"""Data migrations: rows stored by an earlier version come through them right."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone


def migrate(to: tuple[str, str]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([to])
    return executor.loader.project_state([to]).apps


@pytest.fixture(autouse=True)
def back_to_the_latest_migrations():
    """The tests after these ones expect every migration applied."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_split_replies_stored_before_is_last_part_still_release_their_next_part():
    old = migrate(("messaging", "0006_deliveries_handled_by_the_worker"))
    Conversation, Message = (
        old.get_model("messaging", "Conversation"),
        old.get_model("messaging", "Message"),
    )
    conversation = Conversation.objects.create(instagram_account_id="1", customer_id="2")
    common = {"conversation": conversation, "direction": "out", "author": "bot", "status": "queued"}
    head = Message.objects.create(text="one", part=1, next_attempt_at=timezone.now(), **common)
    Message.objects.create(text="two", part=2, first_part=head, **common)
    Message.objects.create(text="three", part=3, first_part=head, **common)
    single = Message.objects.create(text="alone", part=1, next_attempt_at=timezone.now(), **common)

    new = migrate(("messaging", "0007_message_is_last_part"))
    parts = new.get_model("messaging", "Message").objects.order_by("pk")
    assert list(parts.values_list("text", "is_last_part")) == [
        ("one", False),
        ("two", False),
        ("three", True),
        ("alone", True),
    ]
    assert single.pk == parts.last().pk


@pytest.mark.django_db(transaction=True)
def test_conversations_stored_before_usernames_were_fetched_when_idle_are_not_asked_again():
    old = migrate(("messaging", "0007_message_is_last_part"))
    old.get_model("messaging", "Conversation").objects.create(
        instagram_account_id="1", customer_id="2"
    )

    new = migrate(("messaging", "0008_conversation_profile_requested_at"))
    conversation = new.get_model("messaging", "Conversation").objects.get()
    # Its fetch was queued as a task when it began; the worker does not ask again.
    assert conversation.profile_requested_at == conversation.created_at
