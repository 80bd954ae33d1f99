"""The development log: each line says which process wrote it; the queues' per-task lines do
not call a task whose send failed "SUCCESSFUL"; no warning for the browser's favicon."""

import logging

import pytest
from django.contrib.staticfiles import finders

from instabot.logging import ContextFilter, QueueBookkeeping, process_name


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["manage.py", "runserver", "127.0.0.1:8000"], "web"),
        (["/srv/.venv/bin/gunicorn", "instabot.wsgi"], "web"),
        (["manage.py", "worker"], "worker"),
        (["manage.py", "fake_graph_api", "--echo-to", "x"], "fake"),
        (["manage.py", "simulate_dm"], "simulate_dm"),
        ([], "python"),
    ],
)
def test_each_process_has_a_name_for_its_log_lines(argv, name):
    assert process_name(argv) == name


def record(name, level, msg, *args):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_plain_lines_carry_the_process_name(settings):
    line = record("messaging.sending", logging.INFO, "Sent reply %s", 7)
    ContextFilter().filter(line)
    formatter = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"])
    assert f" {line.process_name} INFO messaging.sending: Sent reply 7" in formatter.format(line)


def test_the_queues_bookkeeping_is_left_out_and_failed_tasks_kept():
    keep = QueueBookkeeping().filter
    path = "messaging.sending.send_reply_task"
    assert not keep(
        record("django_tasks", logging.INFO, "Task id=%s path=%s state=%s", 1, path, "SUCCESSFUL")
    )
    assert not keep(
        record("rq.worker", logging.INFO, "Worker %s: %s: %s (%s)", "w", "default", "Job OK", "1")
    )
    assert keep(
        record("django_tasks", logging.ERROR, "Task id=%s path=%s state=%s", 1, path, "FAILED")
    )
    assert keep(record("rq.worker", logging.INFO, "Worker %s started", "w"))


def test_the_favicon_is_one_of_our_static_files(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/messaging/favicon.ico"
    assert finders.find("messaging/favicon.ico")
