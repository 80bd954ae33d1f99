"""One definition of a worker's pass (messaging.worker_pass), used by `worker --once`, RQ's
--burst and the long-running worker: upkeep when due, then the work, then the fetches that can
wait when there was no work; the steps the apps registered, in their order."""

import logging

import pytest

from messaging import worker_pass
from messaging.worker_pass import (
    Schedule,
    Stage,
    register_step,
    run_pass,
    run_until_nothing_is_left,
)


@pytest.fixture
def no_steps(monkeypatch):
    """A pass with only the steps the test registers (and no step woken yet)."""
    monkeypatch.setattr(worker_pass, "_steps", [])
    monkeypatch.setattr(worker_pass, "_woken", set())


def test_the_apps_registered_their_steps_and_the_core_comes_first():
    names = {stage: [step.name for step in worker_pass.steps(stage)] for stage in Stage}
    assert names[Stage.WORK] == [
        "Taking waiting deliveries",
        "Sending due sends",
        "Asking the assistant",
    ]
    assert names[Stage.WHEN_IDLE] == ["Fetching missing usernames", "Fetching missing posts"]
    # The outbox's sends come due by the clock or from other processes, not with a delivery:
    # the long-running worker looks for them at most every WORKER_POLL_INTERVAL once none was due.
    # So for the assistant's awaited answers, but for those the DM's pass records: they wake it.
    assert [step.name for step in worker_pass.steps(Stage.WORK) if step.rests] == [
        "Sending due sends",
        "Asking the assistant",
    ]
    assert {
        "Queuing what waited for credentials",
        "Sweeping stalled deliveries",
        "Sweeping stalled sends",
        "Reconciling accounts with Meta",
        "Putting stalled history imports back to work",
        "Refreshing account tokens",
        "Pruning old raw deliveries",
        "Queuing data deletions whose task was lost",
        "Rolling up the dashboard's settled days",
        "Rolling up the dashboard's today",
    } == set(names[Stage.UPKEEP])


def test_a_pass_runs_due_upkeep_then_the_work_and_fetches_only_when_there_was_none(no_steps):
    ran, work = [], [1]

    def take_work():
        ran.append("work")
        return work.pop() if work else 0

    register_step(Stage.WORK, "work", take_work)
    register_step(Stage.WHEN_IDLE, "fetch a", lambda: ran.append("fetch a") or 0)
    register_step(Stage.WHEN_IDLE, "fetch b", lambda: ran.append("fetch b") or 3)
    register_step(Stage.WHEN_IDLE, "fetch c", lambda: ran.append("fetch c") or 1)
    register_step(Stage.UPKEEP, "sweep", lambda: ran.append("sweep"), every=lambda: 60.0)
    clock = [0.0]
    schedule = Schedule(clock=lambda: clock[0])

    assert run_pass(schedule).done == 1
    assert ran == ["sweep", "work"]  # work found: the fetches wait
    ran.clear()
    clock[0] = 59.0
    assert run_pass(schedule).done == 3
    assert ran == ["work", "fetch a", "fetch b"]  # the first fetch with something ends the pass
    ran.clear()
    clock[0] = 60.0
    run_pass(schedule)
    assert ran[0] == "sweep"  # its interval has passed


def test_the_long_running_worker_asks_the_idle_stage_at_most_once_a_second(no_steps):
    asked, missing = [], [0]

    def fetch_missing():
        asked.append(clock[0])
        return missing[0]

    register_step(Stage.WORK, "work", lambda: 0)
    register_step(Stage.WHEN_IDLE, "fetch", fetch_missing)
    clock = [0.0]
    schedule = Schedule(clock=lambda: clock[0], idle_every=worker_pass.IDLE_STAGE_EVERY)

    for now in (0.0, 0.3, 0.9, 1.0, 1.5):  # idle passes, as after each DM of a trickle
        clock[0] = now
        run_pass(schedule)
    assert asked == [0.0, 1.0]
    missing[0] = 2  # something to fetch: asked at every pass until it is done
    for now in (2.0, 2.1):
        clock[0] = now
        assert run_pass(schedule).done == 2
    assert asked == [0.0, 1.0, 2.0, 2.1]


def test_the_long_running_worker_asks_the_outbox_again_only_after_a_rest_once_it_found_nothing(
    no_steps,
):
    asked, due = [], [0]

    def sends_due():
        asked.append(clock[0])
        return due[0]

    deliveries = []
    register_step(Stage.WORK, "deliveries", lambda: deliveries.append(clock[0]) or 1)
    register_step(Stage.WORK, "sends", sends_due, rests=True)
    clock = [0.0]
    schedule = Schedule(clock=lambda: clock[0], rest=lambda: 0.1)

    # A trickle of DMs: a pass for each, back to back; the deliveries are asked at every one.
    for now in (0.0, 0.03, 0.06, 0.09, 0.1, 0.15):
        clock[0] = now
        run_pass(schedule)
    assert deliveries == [0.0, 0.03, 0.06, 0.09, 0.1, 0.15]
    assert asked == [0.0, 0.1]
    due[0] = 3  # sends came due: asked at every pass while it finds some
    for now in (0.2, 0.21, 0.22):
        clock[0] = now
        run_pass(schedule)
    assert asked == [0.0, 0.1, 0.2, 0.21, 0.22]


def test_the_loop_sleeps_no_longer_than_a_skipped_resting_step_rests(no_steps):
    register_step(Stage.WORK, "sends", lambda: 0, rests=True)
    clock = [0.0]
    schedule = Schedule(clock=lambda: clock[0], rest=lambda: 0.1)

    run_pass(schedule)  # asked, found nothing: it rests, but nothing was skipped
    assert schedule.rest_ends_in() is None  # the loop may sleep as long as it likes
    clock[0] = 0.04
    run_pass(schedule)  # skipped (a DM's pass may have released a long reply's next part)
    assert schedule.rest_ends_in() == pytest.approx(0.06)  # so it is asked once the rest ends
    clock[0] = 0.1
    run_pass(schedule)  # asked again
    assert schedule.rest_ends_in() is None


def test_a_resting_step_is_asked_in_the_pass_whose_earlier_step_stored_work_for_it(no_steps):
    asked, stored = [], []

    def deliveries():
        if not stored:
            return 0
        worker_pass.wake("answers")  # a DM recorded an answer for the later step to give
        return stored.pop()

    register_step(Stage.WORK, "deliveries", deliveries)
    register_step(Stage.WORK, "answers", lambda: asked.append(clock[0]) or 0, rests=True)
    clock = [0.0]
    schedule = Schedule(clock=lambda: clock[0], rest=lambda: 0.1)

    run_pass(schedule)  # asked, found nothing: it rests
    clock[0] = 0.02
    stored.append(1)
    run_pass(schedule)  # the DM's pass: asked in it, rest or not
    clock[0] = 0.04
    run_pass(schedule)  # the pass after it: resting again
    assert asked == [0.0, 0.02]


def test_a_step_woken_after_its_turn_is_asked_at_the_next_pass_without_a_sleep(no_steps):
    asked = []
    register_step(Stage.WORK, "answers", lambda: asked.append(clock[0]) or 0, rests=True)
    clock = [0.0]
    schedule = Schedule(clock=lambda: clock[0], rest=lambda: 0.1)

    run_pass(schedule)
    assert schedule.rest_ends_in() is None
    worker_pass.wake("answers")  # after its turn (another thread stored work for it)
    assert schedule.rest_ends_in() == 0.0  # the loop does not sleep
    clock[0] = 0.01
    run_pass(schedule)
    assert asked == [0.0, 0.01]
    assert schedule.rest_ends_in() is None  # the wake was for one look


def test_a_one_pass_worker_asks_a_resting_step_at_every_pass(no_steps):
    asked, waiting = [], [1, 1]
    register_step(Stage.WORK, "deliveries", lambda: waiting.pop() if waiting else 0)
    register_step(Stage.WORK, "sends", lambda: asked.append("sends") or 0, rests=True)
    run_until_nothing_is_left()
    assert asked == ["sends", "sends", "sends"]  # one per pass: two with work, the last without


def test_only_a_work_step_rests(no_steps):
    with pytest.raises(ValueError, match="work step"):
        register_step(Stage.WHEN_IDLE, "fetch", lambda: 0, rests=True)


def test_a_one_pass_worker_asks_the_idle_stage_at_every_idle_pass(no_steps):
    asked = []
    register_step(Stage.WHEN_IDLE, "fetch", lambda: asked.append("fetch") or 0)
    run_until_nothing_is_left()
    run_until_nothing_is_left()
    assert asked == ["fetch", "fetch"]


def test_a_failing_step_is_logged_and_the_others_still_run(no_steps, caplog):
    def broken():
        raise RuntimeError("the database is restarting")

    ran = []
    register_step(Stage.UPKEEP, "broken sweep", broken, every=lambda: 60.0)
    register_step(Stage.WORK, "broken work", broken)
    register_step(Stage.WORK, "other work", lambda: ran.append("other work") or 0)
    with caplog.at_level(logging.ERROR, logger="messaging.worker_pass"):
        result = run_pass(Schedule())
    assert ran == ["other work"]
    assert [name for name, _ in result.failures] == ["broken work"]  # upkeep waits its turn
    assert "Worker step failed: broken sweep" in caplog.text


def test_a_one_pass_worker_runs_passes_until_nothing_is_left_then_reports_a_failure(no_steps):
    waiting = [1, 1, 1]
    register_step(Stage.WORK, "work", lambda: waiting.pop() if waiting else 0)
    run_until_nothing_is_left()
    assert waiting == []

    def broken():
        raise RuntimeError("boom")

    register_step(Stage.WORK, "work", broken)  # the same name: replaced where it stands
    with pytest.raises(RuntimeError, match="boom"):
        run_until_nothing_is_left()


def test_a_one_pass_worker_whose_pass_fails_records_the_work_left_running_first(no_steps):
    settled = []

    def broken():
        raise RuntimeError("boom")

    register_step(Stage.WORK, "sending", lambda: 0, settle=lambda: settled.append("sends") or 1)
    register_step(Stage.WORK, "broken work", broken)
    with pytest.raises(RuntimeError, match="boom"):
        run_until_nothing_is_left()
    assert settled == ["sends"]


def test_an_upkeep_step_needs_its_interval(no_steps):
    with pytest.raises(ValueError, match="interval"):
        register_step(Stage.UPKEEP, "sweep", lambda: None)


def test_upkeep_done_in_parts_runs_again_next_pass_while_it_finds_some(no_steps):
    parts, ran = [1, 1], []

    def one_part():
        ran.append("part")
        return parts.pop() if parts else 0

    register_step(Stage.UPKEEP, "in parts", one_part, every=lambda: 60.0, in_parts=True)
    register_step(Stage.WORK, "work", lambda: ran.append("work") or 0)
    schedule = Schedule(clock=lambda: 0.0)
    for _ in range(4):
        run_pass(schedule)
    # Work between two parts; once a part found nothing, the step waits its interval.
    assert ran == ["part", "work", "part", "work", "part", "work", "work"]
