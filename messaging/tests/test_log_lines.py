"""Log lines carry the account, conversation and message they concern; JSON in production."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from instabot.logging import ContextFilter, JSONFormatter, log_context
from messaging import replies
from messaging.models import Conversation, Message
from messaging.tests.conftest import ACCOUNT_ID, answer_send, load_payload, with_mid

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_lines():
    """What the production console handler writes for the messaging loggers, as dicts."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("messaging")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_context_is_added_nested_and_removed(json_lines):
    logger = logging.getLogger("messaging.test")
    with log_context(account="17841400000000001", mid=None):
        with log_context(conversation=7, mid="m-1"):
            logger.info("inside")
        logger.info("outer")
    logger.info("outside")
    inside, outer, outside = json_lines()
    assert inside["message"] == "inside"
    assert (inside["account"], inside["conversation"], inside["mid"]) == (
        "17841400000000001",
        7,
        "m-1",
    )
    assert "conversation" not in outer and "mid" not in outer
    assert not {"account", "conversation", "mid"} & outside.keys()
    assert {"time", "level", "logger"} <= outside.keys()


def test_exceptions_are_kept_in_the_json_line(json_lines):
    try:
        raise ValueError("boom ✗")
    except ValueError:
        logging.getLogger("messaging.test").exception("it failed")
    [line] = json_lines()
    assert "ValueError: boom ✗" in line["exception"]


@pytest.mark.django_db
def test_a_delivery_and_its_send_log_what_they_concern(deliver, graph_api, run_worker, json_lines):
    deliver(load_payload("messages__text"))
    answer_send(graph_api, message_id="aWdfZAG1sent")
    run_worker()
    conversation = Conversation.objects.get().pk
    lines = json_lines()
    stored = next(line for line in lines if line["message"].startswith("Stored message"))
    assert (stored["account"], stored["conversation"], stored["mid"]) == (
        ACCOUNT_ID,
        conversation,
        "aWdfZAG1faW1zZAzpZAFYZD_text",
    )
    sent = next(line for line in lines if line["message"].startswith("Sent reply"))
    assert (sent["account"], sent["conversation"]) == (ACCOUNT_ID, conversation)


def test_production_logs_are_json_and_development_logs_plain(settings):
    assert settings.DEBUG is False  # the test suite runs with production settings
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"
    assert settings.LOGGING["formatters"]["plain"]["format"].endswith("%(context_text)s")


@pytest.mark.django_db
def test_staff_actions_log_the_account_and_conversation(deliver, admin_user, json_lines):
    deliver(load_payload("messages__text"))
    conversation = Conversation.objects.get()
    replies.send_staff_reply(conversation, "A person here 👋", admin_user)
    replies.pause_bot(conversation)
    replies.resume_bot(conversation)
    staff_lines = [
        line
        for line in json_lines()
        if line["message"].startswith(("admin queued a reply", "Queued a staff message"))
        or line["message"].startswith(("The bot is paused", "The bot answers"))
    ]
    assert len(staff_lines) == 4
    for line in staff_lines:
        assert (line["account"], line["conversation"]) == (ACCOUNT_ID, conversation.pk), line


@pytest.mark.django_db
def test_an_echo_of_our_sent_reply_is_logged_as_matched(deliver, json_lines):
    deliver(load_payload("messages__text"))
    reply = Message.objects.get(author=Message.Author.BOT)
    reply.mark_sent("aWdfZAG1sent-echo")
    deliver(with_mid(load_payload("messages__echo"), "aWdfZAG1sent-echo", reply.text))
    [matched] = [
        line for line in json_lines() if "matched a message already stored" in line["message"]
    ]
    assert matched["level"] == "INFO"
    assert (matched["account"], matched["conversation"], matched["mid"]) == (
        ACCOUNT_ID,
        reply.conversation_id,
        "aWdfZAG1sent-echo",
    )


def test_development_prints_each_django_log_line_once():
    # Django's default logging gives its loggers handlers of their own (with DEBUG on); ours
    # must be the only one, or every "Not Found" and error prints twice.
    env = {**os.environ, "DEBUG": "on", "LOG_FORMAT": "plain", "ENV_FILE": os.devnull}
    code = (
        "import logging; "
        "logging.getLogger('django.request').warning('Not Found: /nowhere'); "
        "logging.getLogger('django.server').warning('Bad request line')"
    )
    finished = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    output = (finished.stdout + finished.stderr).splitlines()
    assert [line for line in output if "Not Found: /nowhere" in line] == [
        next(line for line in output if "WARNING django.request: Not Found: /nowhere" in line)
    ]
    assert [line for line in output if "Bad request line" in line] == [
        next(line for line in output if "WARNING django.server: Bad request line" in line)
    ]
