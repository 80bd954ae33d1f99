"""Workers give the CPU to the web processes first (WORKER_NICENESS)."""

from unittest import mock

import pytest

from ops import worker

pytestmark = pytest.mark.django_db


def test_a_running_worker_lowers_its_cpu_priority_by_the_setting(settings):
    settings.WORKER_NICENESS = 10
    with mock.patch("os.nice") as nice:
        worker.lower_cpu_priority()
    nice.assert_called_once_with(10)


def test_a_niceness_of_zero_leaves_the_priority_alone(settings):
    settings.WORKER_NICENESS = 0
    with mock.patch("os.nice") as nice:
        worker.lower_cpu_priority()
    nice.assert_not_called()


def test_a_one_pass_worker_run_keeps_the_callers_priority(run_worker):
    # `worker --once` runs inside whatever called it (a test run, a cron job).
    with mock.patch("os.nice") as nice:
        run_worker()
    nice.assert_not_called()


def test_a_long_running_worker_lowers_its_priority_before_it_starts(settings):
    from django.core.management import call_command

    with (
        mock.patch("os.nice") as nice,
        mock.patch.object(worker, "start_heartbeat"),
        mock.patch("ops.worker.PassLoop.run"),
        mock.patch("django_tasks_db.management.commands.db_worker.Worker.run"),
        mock.patch("django_tasks_db.management.commands.db_worker.Worker.configure_signals"),
    ):
        call_command("worker", verbosity=0)
    nice.assert_called_once_with(settings.WORKER_NICENESS)
