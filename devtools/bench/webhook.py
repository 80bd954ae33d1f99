"""Webhook ingestion: signed single-message deliveries per second at several concurrencies,
beside the same server's trivial view (/ping), and latency at a steady 200 deliveries/s."""

import asyncio

from devtools.bench.dm_to_reply import wait_for_empty_backlog
from devtools.bench.load import Deliveries, closed_loop, get_request, open_loop, prepared
from devtools.bench.plan import PREPARED_PER_SECOND, WARM_UP_SECONDS, Plan
from devtools.bench.service import Service


def measure_webhook(service: Service, plan: Plan) -> dict:
    deliveries = Deliveries(prefix="1")
    trivial = get_request("/ping")
    # A web process's first requests import and build what the later ones reuse: warm every
    # process up on both views before measuring either.
    for warm_up in (lambda: deliveries.next()[1], lambda: trivial):
        asyncio.run(closed_loop(service.port, warm_up, 16, WARM_UP_SECONDS))
    result = {}
    for concurrency in plan.concurrencies:
        # Each level starts with the workers idle: none inherits the backlog of the one before.
        wait_for_empty_backlog(service)
        requests = prepared(
            lambda: deliveries.next()[1], int(PREPARED_PER_SECOND * plan.seconds_per_level)
        )
        webhook = service.measured(
            closed_loop(service.port, requests, concurrency, plan.seconds_per_level)
        )
        baseline = service.measured(
            closed_loop(service.port, lambda: trivial, concurrency, plan.seconds_per_level)
        )
        result[f"c{concurrency}"] = {"webhook": webhook, "trivial": baseline}
        result[f"ratio_to_trivial_c{concurrency}"] = (
            round(webhook["rps"] / baseline["rps"], 3) if baseline["rps"] else None
        )
    wait_for_empty_backlog(service)
    steady = asyncio.run(open_loop(service.port, deliveries, 200, plan.steady_seconds))
    result["at_200rps"] = steady
    result["p99_ms_at_200rps"] = steady["p99_ms"]
    return result
