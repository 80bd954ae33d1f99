"""DM-to-reply: from a delivery's POST to its Send API call reaching the fake Graph API.

- `at_<rate>rps`: the latency at a few steady rates, with the share of a core each group of
  processes used meanwhile.
- `cpu_ms_per_dm`: the CPU the web processes, the workers and the database server (where it
  runs on this machine) spent per answered DM at a steady rate well inside capacity, for new
  customers (each DM opens a conversation, whose username the worker then fetches) and for
  returning ones, counted from the first DM's POST until every reply is sent and the workers
  are idle again; `ratio_to_floor` divides it by the floor (devtools/bench/floor.py).
- `busy`: the same at `plan.busy_dm_rate` (200/s), near or past capacity on a small machine,
  where a worker finds many deliveries waiting and takes them as a batch.
- `capacity_rps`: a ramp of rates, each from an idle service; the highest whose backlog at the
  end is under half a second of DMs, beside the trivial view's rate in the same run (the
  machine's yardstick). The DMs go to four accounts, which Meta lets send 100 messages a
  second each: the ramp stops at 400/s.
"""

import time

from devtools.bench.load import Deliveries, Latencies, open_loop
from devtools.bench.plan import ACCOUNT_IDS, Plan
from devtools.bench.service import Service

# CPU groups that serve a DM (the load generator and the fake Graph API are Meta's side).
SERVICE_GROUPS = ("web", "workers", "database")


def measure_dm_to_reply(service: Service, plan: Plan, prefix: str = "2") -> dict:
    result = {}
    for number, rate in enumerate(plan.dm_rates):
        row = dm_phase(service, rate, plan.dm_seconds, f"{prefix}{number}")
        result[f"at_{rate}rps"] = row
    top = result[f"at_{max(plan.dm_rates)}rps"]
    result["accounts"] = len(ACCOUNT_IDS)
    result.update(p50_ms=top["p50_ms"], p99_ms=top["p99_ms"], backlog_end=top["backlog_end"])
    return result


def measure_cost(service: Service, plan: Plan, prefix: str = "3", rate: int | None = None) -> dict:
    """CPU per answered DM at `rate` (default `plan.steady_dm_rate`), new customers and
    returning ones."""
    rate, seconds = rate or plan.steady_dm_rate, plan.steady_dm_seconds
    new = dm_phase(service, rate, seconds, f"{prefix}0", until_idle=True)
    returning_customers = Deliveries(customers=max(20, rate), prefix=f"{prefix}1")
    # Each customer writes once first (not measured): then every measured DM is a returning
    # customer's, in a conversation that exists and whose username is known.
    dm_phase(service, rate, returning_customers.customers / rate, deliveries=returning_customers)
    returning = dm_phase(
        service, rate, seconds, deliveries=returning_customers, until_idle=True, fresh=True
    )
    return {
        "rate": rate,
        "new": new,
        "returning": returning,
        "cpu_ms_per_dm": max(new["cpu_ms_per_dm"]["total"], returning["cpu_ms_per_dm"]["total"]),
    }


def measure_capacity(service: Service, plan: Plan, prefix: str = "4") -> dict:
    steps, capacity = [], 0
    for number, rate in enumerate(plan.ramp_rates):
        row = dm_phase(service, rate, plan.ramp_seconds, f"{prefix}{number}")
        flat = row["backlog_end"] <= rate * 0.5 and not row["webhook_errors"]
        steps.append({"rate": rate, "flat": flat, **row})
        if not flat:
            break
        capacity = rate
    return {"capacity_rps": capacity, "ramp": steps}


def measure_idle(service: Service, seconds: float) -> dict:
    """The share of a core each group uses with no load at all: the cost of waiting."""
    wait_for_empty_backlog(service)
    time.sleep(2)  # the last username fetches and the loops' backoff settle

    async def nothing():
        import asyncio

        await asyncio.sleep(seconds)
        return {}

    return service.measured(nothing())["cpu_percent"]


def dm_phase(
    service: Service,
    rate: float,
    seconds: float,
    prefix: str = "9",
    *,
    deliveries: Deliveries | None = None,
    until_idle: bool = False,
    fresh: bool = False,
) -> dict:
    """DMs at a steady `rate` for `seconds`, from an idle service; their latencies, the
    backlog when the load ends, and the CPU per answered DM (`until_idle`: counted until
    every reply is sent and the workers' follow-up work is done, else during the load)."""
    # Start from an idle service: an earlier phase may leave DMs to answer.
    wait_for_empty_backlog(service)
    service.fake.reset()
    if deliveries is None:
        deliveries = Deliveries(customers=max(1000, int(rate * seconds)), prefix=prefix)
    if fresh:
        deliveries.sent_at.clear()
    before, started = service.cpu_seconds(), time.monotonic()
    load = service.measured(open_loop(service.port, deliveries, rate, seconds))
    backlog_end = service.backlog()
    # Let the last replies arrive, so that each DM's latency is known.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(dm_sends(service)) < load["sent"]:
        time.sleep(0.1)
    if until_idle:
        wait_for_empty_backlog(service, poll=0.2)
    after, elapsed = service.cpu_seconds(), time.monotonic() - started
    latencies = reply_latencies(deliveries, dm_sends(service))
    answered = len(latencies.samples_ms)
    spent = {group: after[group] - before[group] for group in SERVICE_GROUPS}
    cpu_ms = {
        group: round(1000 * spent[group] / answered, 2) if answered else None for group in spent
    }
    cpu_ms["total"] = round(1000 * sum(spent.values()) / answered, 2) if answered else None
    return {
        "sent": load["sent"],
        "answered": answered,
        "p50_ms": latencies.percentile(50),
        "p99_ms": latencies.percentile(99),
        "max_ms": round(max(latencies.samples_ms), 2) if latencies.samples_ms else None,
        "backlog_end": backlog_end,
        "webhook_errors": load["errors"],
        "webhook_p99_ms": load["p99_ms"],
        "cpu_percent": load["cpu_percent"],
        "cpu_ms_per_dm": cpu_ms,
        "seconds_counted": round(elapsed, 1),
        "database_cpu_measured": service.database.measured,
    }


def dm_sends(service: Service) -> list[dict]:
    """The DMs sent: not the comment replies, whose calls carry a "kind" (and public replies
    no recipient)."""
    return [call for call in service.fake.calls if call["outcome"] == "sent" and "kind" not in call]


def reply_latencies(deliveries: Deliveries, sends: list[dict]) -> Latencies:
    """Each customer's replies answer their DMs in order (a customer's DMs are seconds apart)."""
    latencies = Latencies()
    pending = {customer: list(times) for customer, times in deliveries.sent_at.items()}
    for call in sorted(sends, key=lambda c: c["received_at"]):
        waiting = pending.get(call["recipient_id"])
        if waiting:  # else a reply to an earlier phase's DM
            latencies.samples_ms.append((call["received_at"] - waiting.pop(0)) * 1000)
    return latencies


def wait_for_empty_backlog(service: Service, seconds: float = 900, poll: float = 0.5) -> None:
    """Until the workers are idle: no delivery, reply or task of an earlier phase left."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and service.backlog(with_tasks=True):
        time.sleep(poll)
