"""The history phase: a large history bulk-loaded into the service's database (by default
1,000,000 messages in 100,000 conversations across 50 accounts, and one long thread), then
the webhook's p99 at 200 deliveries/s and the DM phases again, compared with the empty
database, and the staff side at that size (devtools/bench/staff_side.py)."""

import asyncio
import json
import time

from devtools.bench.dm_to_reply import measure_cost, measure_dm_to_reply, wait_for_empty_backlog
from devtools.bench.load import Deliveries, open_loop
from devtools.bench.plan import Plan
from devtools.bench.service import Service

HOURS = 3600


def measure_history(service: Service, plan: Plan, empty: dict) -> dict:
    messages = plan.history_messages
    wait_for_empty_backlog(service)
    started = time.monotonic()
    output = service.shell(
        "from devtools import history_loader as h\n"
        f"h.load(messages={messages}, conversations={max(1, messages // 10)}, accounts=50)\n"
        "print('LONG THREAD', h.long_thread(5000))\n",
        timeout=4 * HOURS,
    )
    # Named, not found as the longest: the full run's returning customers write longer ones
    # (without a stored account) before this phase.
    thread = int(output.split("LONG THREAD ", 1)[1].split()[0])
    load_seconds = time.monotonic() - started
    # The planner's statistics, as autovacuum would gather them after such a load; before
    # the rollup: without them PostgreSQL plans its grouped queries badly (44 of the 90 days
    # in 13 minutes, against the rest in under 30 s once analyzed).
    service.shell(
        "from django.db import connection\n"
        "if connection.vendor == 'postgresql':\n"
        "    connection.cursor().execute('ANALYZE')\n"
    )
    # The dashboard's rollup of the loaded days, as after an upgrade (the workers would do it
    # a day a pass meanwhile; the command does it at once, and is timed on its own).
    started = time.monotonic()
    service.shell(
        "from django.core.management import call_command\ncall_command('roll_up_stats')\n",
        timeout=HOURS,
    )
    rollup_seconds = time.monotonic() - started
    wait_for_empty_backlog(service)
    steady = asyncio.run(open_loop(service.port, Deliveries(prefix="50"), 200, plan.steady_seconds))
    dm = measure_dm_to_reply(service, plan, prefix="51")
    cost = measure_cost(service, plan, prefix="52")
    output = service.shell(
        f"from devtools.bench import staff_side\nstaff_side.main({plan.staff_runs}, {thread})\n",
        timeout=HOURS,
    )
    staff = json.loads(output.split("STAFF ", 1)[1])
    result = {
        "messages": messages,
        "load_seconds": round(load_seconds, 1),
        "rollup_seconds": round(rollup_seconds, 1),
        "webhook_p99_ms_at_200rps": steady["p99_ms"],
        "dm_to_reply": dm,
        "cost": cost,
        "staff": staff,
    }
    result["versus_empty"] = {
        "webhook_p99_at_200rps": _ratio(steady["p99_ms"], empty["webhook"]["p99_ms_at_200rps"]),
        "dm_p50": _ratio(dm["p50_ms"], empty["dm_to_reply"]["p50_ms"]),
        "dm_p99": _ratio(dm["p99_ms"], empty["dm_to_reply"]["p99_ms"]),
        "cpu_ms_per_dm": _ratio(cost["cpu_ms_per_dm"], empty["dm_to_reply"]["cpu_ms_per_dm"]),
    }
    pages = [value for value in staff.values() if isinstance(value, dict)]
    result["staff_p99_ms_max"] = max(page["p99_ms"] for page in pages)
    result["staff_queries_constant"] = all(page["queries_constant"] for page in pages)
    return result


def _ratio(now, before) -> float | None:
    return round(now / before, 2) if now and before else None
