"""One pass of a worker: the one definition of what `manage.py worker` does each time round,
whether it runs one pass after another until nothing is left (--once, RQ's --burst) or for
as long as it lives (ops.worker's pass loop). A test of one is a test of the other.

A pass runs the registered steps in three stages, each in the order registered (the core's
first, from MessagingConfig.ready, then the feature apps' from theirs):

upkeep      each when its interval has passed since it last ran in this process (every one is
            due in a new process's first pass): sweeps, work that waited for credentials,
            pruning, token refresh, reconciliation. Each checks the database for what is due,
            so several workers doing it at once is by design, not a race (every change is a
            conditional UPDATE).
work        every pass: deliveries waiting, sends that are due. Their counts say whether the
            pass found work. A step whose work no delivery announces (`rests`: the outbox's
            sends, which come due by the clock or from another process) is not asked again
            for WORKER_POLL_INTERVAL once it found nothing, in the long-running worker
            (work_look_every; a one-pass worker asks at every pass): at a steady
            trickle of DMs a pass runs for each DM and another after it, and the outbox's
            look was most of what such a pass cost when it found nothing (2 of 3 ms on SQLite).
            A resting step whose work this process stores (the assistant's awaited answers,
            recorded by the DM's pass) is woken by it (`wake`): asked at the next pass, or
            later in the same one, whatever its rest; only what other processes store waits
            out the rest.
when idle   only in a pass that found no work: fetches that can wait (usernames, posts);
            the first that finds something ends the stage, so a delivery arriving meanwhile
            waits for a few Graph calls at most. In the long-running worker, a stage that
            found nothing is not asked again for IDLE_STAGE_EVERY: at a steady trickle of DMs
            every DM is followed by an idle pass, and its look for missing usernames and posts
            doubled what that pass cost (a one-pass worker asks at each idle pass: it ends
            after one).

A work step may leave work running in the background (the sends that call no Meta, under way
in the outbox's own threads; the pass never waits for them): its `settle` waits for that
work and records it. A one-pass worker settles before it ends, a long-running one as it stops.

A step that fails is logged with its name and the pass goes on with the others: one app's
trouble never stops deliveries. A failed work or idle step makes the pass `failed` (the loop
pauses, a one-pass worker reports it); a failed upkeep step is tried again at its next time.
"""

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

logger = logging.getLogger(__name__)


class Stage(enum.Enum):
    UPKEEP = "upkeep"
    WORK = "work"
    WHEN_IDLE = "when idle"


@dataclass(frozen=True)
class Step:
    name: str  # what the log line says it was doing
    run: Callable[[], object]  # work and idle steps return how much they did (0: nothing)
    stage: Stage
    # Upkeep: seconds between two runs, read at each pass (settings may change in tests).
    every: Callable[[], float] | None = None
    # Upkeep that does a bounded part of what is due (one account's reconciliation) and
    # returns how much: run again at the next pass while it finds some, the deliveries
    # waiting going first in between.
    in_parts: bool = False
    # Work: waits for what the step left running in the background and records it; returns
    # how much it recorded.
    settle: Callable[[], int] | None = None
    # Work that no delivery announces: once it found nothing, the long-running worker asks
    # again after the schedule's `rest` (see the module's docstring); at every pass while it
    # finds some.
    rests: bool = False


_steps: list[Step] = []
# The resting steps woken in this process since they were last asked (wake).
_woken: set[str] = set()

# Seconds the long-running worker lets pass before asking the idle stage again, after it
# found nothing: what it fetches can wait that long (see the module's docstring).
IDLE_STAGE_EVERY = 1.0


def work_look_every() -> float:
    """Seconds the long-running worker lets pass before asking a resting work step again
    after it found nothing: WORKER_POLL_INTERVAL, how soon an idle worker on SQLite looks
    again anyway (a staff reply, a later part waits that much longer at most)."""
    return settings.WORKER_POLL_INTERVAL


def register_step(
    stage: Stage,
    name: str,
    run: Callable[[], object],
    *,
    every: Callable[[], float] | None = None,
    in_parts: bool = False,
    settle: Callable[[], int] | None = None,
    rests: bool = False,
) -> None:
    """Add a step to every pass (from an AppConfig.ready). Registering a name again replaces
    that step where it stands."""
    if stage is Stage.UPKEEP and every is None:
        raise ValueError(f"upkeep step {name!r} needs its interval (every=)")
    if rests and stage is not Stage.WORK:
        raise ValueError(f"only a work step rests ({name!r})")
    step = Step(name, run, stage, every, in_parts, settle, rests)
    for index, registered in enumerate(_steps):
        if registered.name == name:
            _steps[index] = step
            return
    _steps.append(step)


def wake(name: str) -> None:
    """Ask the resting work step `name` at its next turn in this process, whatever its rest:
    work for it was just stored here (call it once that is committed)."""
    _woken.add(name)


def steps(stage: Stage) -> list[Step]:
    return [step for step in _steps if step.stage is stage]


class Schedule:
    """When each upkeep step last ran in this process (time.monotonic()), when the idle
    stage last found nothing (asked again `idle_every` seconds later; 0: at every idle pass),
    and when each resting work step last found nothing (asked again `rest()` seconds later;
    None: at every pass, as a one-pass worker does)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        idle_every: float = 0.0,
        rest: Callable[[], float] | None = None,
    ):
        self.clock = clock
        self.last_run: dict[str, float] = {}
        self.idle_every = idle_every
        self.idle_found_nothing_at: float | None = None
        self.rest = rest
        self.found_nothing_at: dict[str, float] = {}
        self.skipped: set[str] = set()  # resting steps not asked since they last found nothing

    def due(self, step: Step) -> bool:
        last = self.last_run.get(step.name)
        return last is None or self.clock() - last >= step.every()

    def ran(self, step: Step) -> None:
        self.last_run[step.name] = self.clock()

    def due_again(self, step: Step) -> None:
        self.last_run.pop(step.name, None)

    def idle_stage_due(self) -> bool:
        last = self.idle_found_nothing_at
        return last is None or self.clock() - last >= self.idle_every

    def idle_stage_found(self, found: bool) -> None:
        self.idle_found_nothing_at = None if found else self.clock()

    def work_due(self, step: Step) -> bool:
        last = self.found_nothing_at.get(step.name)
        if last is None or self.rest is None or step.name in _woken:
            return True
        return self.clock() - last >= self.rest()

    def rest_ends_in(self) -> float | None:
        """Seconds until a resting step skipped since its last look is asked again (None: no
        step was skipped): the longest the loop may sleep, so that what came due meanwhile
        (a long reply's next part, released by the DM's pass) waits no longer than a rest;
        0 when a step was woken after its turn."""
        if self.rest is None:
            return None
        if any(step.name in _woken for step in steps(Stage.WORK)):
            return 0.0
        if not self.skipped:
            return None
        now, rest = self.clock(), self.rest()
        return max(0.0, min(rest - (now - self.found_nothing_at[name]) for name in self.skipped))

    def work_found(self, step: Step, found: int) -> None:
        if step.rests and self.rest is not None:
            if found:
                self.found_nothing_at.pop(step.name, None)
            else:
                self.found_nothing_at[step.name] = self.clock()


@dataclass
class PassResult:
    done: int = 0  # work found by the work steps, or else by the first idle step that had some
    failures: list[tuple[str, Exception]] = field(default_factory=list)  # work and idle steps

    @property
    def failed(self) -> bool:
        return bool(self.failures)


def run_pass(schedule: Schedule) -> PassResult:
    result = PassResult()
    # Upkeep first: what it puts back in the queue (a swept delivery, work that waited for
    # credentials) is taken in the same pass.
    for step in steps(Stage.UPKEEP):
        if schedule.due(step):
            schedule.ran(step)  # before running: a step failing every time waits its interval
            found = _run(step, None)
            if step.in_parts and isinstance(found, int) and found > 0:
                schedule.due_again(step)
    for step in steps(Stage.WORK):
        if schedule.work_due(step):
            schedule.skipped.discard(step.name)
            _woken.discard(step.name)  # before it runs: a wake meanwhile is for the next pass
            found = int(_run(step, result) or 0)
            schedule.work_found(step, found)
            result.done += found
        else:
            schedule.skipped.add(step.name)
    if not result.done and schedule.idle_stage_due():
        for step in steps(Stage.WHEN_IDLE):
            if found := int(_run(step, result) or 0):
                result.done = found
                break
        schedule.idle_stage_found(bool(result.done))
    return result


def run_until_nothing_is_left() -> None:
    """For one-pass workers (--once, RQ's --burst): passes until one finds no work; every upkeep
    step runs in the first. The first failure of a work step is raised at the end, so a
    one-pass worker (a cron job, say) exits with an error, after what else it could do."""
    schedule = Schedule()
    while True:
        result = run_pass(schedule)
        if result.failed:
            # What the steps left running (the outbox's sends that call no Meta) is recorded
            # before the error ends the worker: otherwise they would be sent again later.
            settle_running_work()
            raise result.failures[0][1]
        if not result.done and not settle_running_work():
            return  # else what it recorded may have made more work due: another pass


def settle_running_work() -> int:
    """Wait for the work the steps left running in the background, and record it; returns
    how much was recorded. A failing step is logged, not raised."""
    recorded = 0
    for step in steps(Stage.WORK):
        if step.settle is not None:
            try:
                recorded += int(step.settle() or 0)
            except Exception:
                logger.exception("Worker step failed to settle: %s", step.name)
    return recorded


def _run(step: Step, result: PassResult | None):
    try:
        return step.run()
    except Exception as exc:
        logger.exception("Worker step failed: %s", step.name)
        if result is not None:
            result.failures.append((step.name, exc))
        return 0
