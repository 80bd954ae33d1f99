"""Log lines carry the account, conversation and message they concern; JSON in production."""

import io
import json
import logging

import pytest

from instabot.logging import ContextFilter, JSONFormatter, log_context
from messaging.models import Conversation
from messaging.tests.conftest import ACCOUNT_ID, answer_send, load_payload


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
