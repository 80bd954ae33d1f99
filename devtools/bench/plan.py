"""What a run measures, and for how long: the full plan or --quick (CI's smoke check)."""

from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
# The Instagram accounts the DMs come to. Meta lets one account send at most 100 messages a
# second, and the service holds every account to that (SEND_RATE_PER_SECOND). At 100 DMs/s to a
# single account the replies would queue at exactly the rate they may leave: the first hiccup
# would become a delay that never drains, whatever the service's own speed. So the DMs are
# spread over several accounts (25/s each at 100/s), as a deployment with that much traffic is.
ACCOUNT_IDS = tuple(f"1784140000000000{n}" for n in range(1, 5))
APP_SECRET = "bench-app-secret"  # noqa: S105 - throwaway, for a throwaway database
REPLY_TEXT = "Thanks! Your order is noted."
# Meta's 750 private replies an hour would make the burst last hours: the service (and the fake
# Graph API) run with the limit lifted, and the report gives the drain time under the real one.
LIFTED_PRIVATE_REPLIES_PER_HOUR = 1_000_000
WARM_UP_SECONDS = 1
# Webhook requests built before each closed-loop level starts, per second of the level: more
# than the server has answered on this machine (more are built on the fly if it outruns them).
PREPARED_PER_SECOND = 3000


@dataclass
class Plan:
    """How long each measurement runs: the full run, or --quick (a smoke check for CI)."""

    seconds_per_level: float
    concurrencies: tuple[int, ...]
    steady_seconds: float
    dm_rates: tuple[int, ...]
    dm_seconds: float
    rule_counts: tuple[int, ...] = (10, 1_000, 10_000)
    rule_messages: int = 2_000
    comments: int = 5_000  # the viral post's burst
    floor_dms: int = 3_000  # DMs in the floor's tight loop
    steady_dm_rate: int = 50  # the CPU per DM is measured at this rate, well inside capacity
    steady_dm_seconds: float = 20
    # … and again at this one, near or past capacity: where the worker's batches fill
    # (issue 27 asks for both).
    busy_dm_rate: int = 200
    ramp_rates: tuple[int, ...] = (50, 100, 150, 200, 300, 400)
    ramp_seconds: float = 10
    idle_seconds: float = 10
    # The history phase: this many messages (in a tenth as many conversations, across 50
    # accounts) loaded in bulk, then the DM phases again and the staff side. 0: no such phase.
    history_messages: int = 1_000_000
    staff_runs: int = 20

    @classmethod
    def full(cls) -> "Plan":
        return cls(10, (1, 16, 64), 10, (20, 100), 30)

    @classmethod
    def quick(cls) -> "Plan":
        return cls(
            1,
            (1, 16, 64),
            2,
            (20, 100),
            2,
            rule_messages=300,
            comments=300,
            floor_dms=200,
            steady_dm_seconds=2,
            ramp_rates=(50, 100),
            ramp_seconds=2,
            idle_seconds=2,
            history_messages=2_000,
            staff_runs=3,
        )
