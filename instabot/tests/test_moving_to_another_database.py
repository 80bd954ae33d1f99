"""An SQLite deployment moves to MySQL/MariaDB (or PostgreSQL) with dumpdata and loaddata.

The source is a real SQLite database built by the service itself in a subprocess; the target is
this run's test database: MariaDB or PostgreSQL in CI, SQLite on a developer's machine.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import InstagramBusinessAccount
from messaging.models import Conversation, Message
from rules.models import ResponseRule

# Builds a database with the service in a subprocess, then dumps and loads it.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BASE_DIR = Path(__file__).resolve().parents[2]

# The documented command (README, "Moving from SQLite to MySQL/MariaDB").
DUMP = [
    "dumpdata",
    "--natural-foreign",
    "--natural-primary",
    "--exclude",
    "contenttypes",
    "--exclude",
    "auth.permission",
    "--exclude",
    "admin.logentry",
    "--exclude",
    "sessions",
]

BUILD_OLD_DEPLOYMENT = """
from django.contrib.auth.models import User
from accounts.models import InstagramBusinessAccount
from messaging.models import Conversation, Message
from messaging.replies import send_staff_reply
from rules.models import ResponseRule
alice = User.objects.create_superuser("alice", "alice@example.com", "pw-alice-123")
shop = InstagramBusinessAccount(instagram_id="17841400000000001", name="Boutique Été ☀️")
shop.set_access_token("EAAG-moving-token")
shop.save()
ResponseRule.objects.create(keywords="horaires, 営業時間", response_text="10h-19h 🕙", account=shop)
talk = Conversation.objects.create(instagram_account_id=shop.instagram_id, customer_id="42",
                                   account=shop)
Message.objects.create(conversation=talk, direction="in", author="customer", mid="m-1",
                       text="Ça marche 👍🏽 — 日本語もOK 🇯🇵")
send_staff_reply(talk, "Merci ! 🙏", alice)
"""


def run_manage(args, database_url):
    env = {**os.environ, "DATABASE_URL": database_url, "ENV_FILE": os.devnull}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_sqlite_deployment_moves_over_with_dumpdata_and_loaddata(tmp_path):
    old = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    run_manage(["migrate", "--no-input"], old)
    run_manage(["shell", "-c", BUILD_OLD_DEPLOYMENT], old)
    dump = tmp_path / "dump.json"
    run_manage([*DUMP, "--output", str(dump)], old)

    call_command("loaddata", str(dump), verbosity=0)

    shop = InstagramBusinessAccount.objects.get()
    assert shop.name == "Boutique Été ☀️"
    assert shop.access_token == "EAAG-moving-token"  # encrypted again on the way in
    assert ResponseRule.objects.get().keywords == "horaires, 営業時間"
    conversation = Conversation.objects.get()
    assert conversation.account == shop
    texts = [m.text for m in conversation.recent_messages(10)]
    assert texts == ["Ça marche 👍🏽 — 日本語もOK 🇯🇵", "Merci ! 🙏"]
    queued = Message.objects.get(author="staff")
    assert (queued.status, queued.sent_by.username) == ("queued", "alice")
    # Due, held by no worker: the sender on the new database sends it.
    assert (queued.claimed_by, queued.due_at is not None) == ("", True)
