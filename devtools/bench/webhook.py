"""Webhook ingestion: signed single-message deliveries per second at several concurrencies,
beside the same server's trivial view (/ping); the goal's level again with the workers stopped;
and latency at a steady 200 deliveries/s."""

import asyncio

from devtools.bench.dm_to_reply import wait_for_empty_backlog
from devtools.bench.load import Deliveries, closed_loop, get_request, open_loop, prepared
from devtools.bench.plan import PREPARED_PER_SECOND, WARM_UP_SECONDS, Plan
from devtools.bench.service import Service

# Issue 27's goal: the webhook at least half the rate of /ping at this concurrency.
GOAL_CONCURRENCY = 16
TRIVIAL = get_request("/ping")


def measure_webhook(service: Service, plan: Plan) -> dict:
    deliveries = Deliveries(prefix="1")
    # A web process's first requests import and build what the later ones reuse: warm every
    # process up on both views before measuring either.
    for warm_up in (lambda: deliveries.next()[1], lambda: TRIVIAL):
        asyncio.run(closed_loop(service.port, warm_up, 16, WARM_UP_SECONDS))
    result = {}
    for concurrency in plan.concurrencies:
        # Each level starts with the workers idle: none inherits the backlog of the one before.
        wait_for_empty_backlog(service)
        _level(service, plan, deliveries, concurrency, result, f"c{concurrency}")
    # The goal's level with the workers stopped: the web processes alone, as when the workers
    # run on other machines. Above, the workers handle what the webhook stores on the same
    # cores, during its level and /ping's; this figure goes beside that one, not instead.
    wait_for_empty_backlog(service)
    with service.workers_stopped():
        key = f"c{GOAL_CONCURRENCY}_workers_stopped"
        _level(service, plan, deliveries, GOAL_CONCURRENCY, result, key)
    wait_for_empty_backlog(service)
    steady = asyncio.run(open_loop(service.port, deliveries, 200, plan.steady_seconds))
    result["at_200rps"] = steady
    result["p99_ms_at_200rps"] = steady["p99_ms"]
    return result


def _level(
    service: Service, plan: Plan, deliveries: Deliveries, concurrency: int, result: dict, key: str
) -> None:
    """The webhook, then /ping, each for the plan's seconds at `concurrency`; the figures and
    their ratio go into `result` under `key`."""
    requests = prepared(
        lambda: deliveries.next()[1], int(PREPARED_PER_SECOND * plan.seconds_per_level)
    )
    webhook = service.measured(
        closed_loop(service.port, requests, concurrency, plan.seconds_per_level)
    )
    baseline = service.measured(
        closed_loop(service.port, lambda: TRIVIAL, concurrency, plan.seconds_per_level)
    )
    result[key] = {"webhook": webhook, "trivial": baseline}
    result[f"ratio_to_trivial_{key}"] = (
        round(webhook["rps"] / baseline["rps"], 3) if baseline["rps"] else None
    )
