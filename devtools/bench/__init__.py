"""`manage.py bench`: how fast the service does its job, what it costs per DM against the floor,
its capacity, and whether it stays so as history grows.

Starts the production server (gunicorn) and workers against a fresh database, with our fake
Graph API in this process, and measures from outside, over loopback, as Meta would. One
module per phase, run in this order:

webhook.py      webhook ingestion beside the trivial view (/ping); p99 at 200 deliveries/s
floor.py        the irreducible work of a DM in a tight loop: floor.cpu_ms_per_dm
dm_to_reply.py  latency at steady rates; the CPU per answered DM (web, workers, database
                server) and its ratio to the floor; capacity by a ramp; the idle CPU
comment_burst   a viral post's burst of comments and their private replies (devtools/)
history.py      a large history bulk-loaded, then the DM phases again and the staff side
                (staff_side.py)
rules.py        rule matching with 10, 1,000 and 10,000 rules (in this process)
knowledge.py    knowledge retrieval with 20, 200 and 2,000 entries; the evaluation set
report.py       the machine, and the table printed at the end

load.py (the load generator), service.py (the processes and their CPU) and plan.py (how long
each phase runs) serve them all.
"""

import json
import tempfile
from pathlib import Path

from devtools.bench.dm_to_reply import (
    measure_capacity,
    measure_cost,
    measure_dm_to_reply,
    measure_idle,
    wait_for_empty_backlog,
)
from devtools.bench.history import measure_history
from devtools.bench.knowledge import measure_knowledge
from devtools.bench.load import Deliveries
from devtools.bench.plan import ACCOUNT_IDS, APP_SECRET, LIFTED_PRIVATE_REPLIES_PER_HOUR, Plan
from devtools.bench.report import machine, table
from devtools.bench.rules import measure_rules
from devtools.bench.service import Service
from devtools.bench.webhook import measure_webhook
from devtools.simulation import signed_headers
from meta.signatures import SIGNATURE_HEADER

__all__ = ["Plan", "run", "table"]


def measure_floor(service: Service, plan: Plan) -> dict:
    """The floor, in a process of its own on the service's database (floor.py)."""
    wait_for_empty_backlog(service)
    body = Deliveries(prefix="80").next()[1].split(b"\r\n\r\n", 1)[1]
    # Padded to about a kilobyte, as a DM with its metadata is.
    payload = json.loads(body)
    payload["entry"][0]["messaging"][0]["message"]["text"] += " " + "x" * max(0, 1000 - len(body))
    body = json.dumps(payload).encode()
    signature = signed_headers(body, APP_SECRET)[SIGNATURE_HEADER]
    output = service.shell(
        f"from devtools.bench import floor\nfloor.main({plan.floor_dms}, {body.hex()!r}, "
        f"{signature!r})\n",
        timeout=1800,
    )
    service.fake.reset()
    result = json.loads(output.split("FLOOR ", 1)[1])
    result["body_bytes"] = len(body)
    return result


def measure_comment_burst(service: Service, plan: Plan) -> dict:
    """The viral post: `plan.comments` matching comments on one post of the first account."""
    from devtools.comment_burst import measure_comment_burst as burst  # it imports load.py

    wait_for_empty_backlog(service)  # from an idle service, as the DM phases
    service.fake.reset()
    service.fake.comments.per_hour = LIFTED_PRIVATE_REPLIES_PER_HOUR  # Meta's, lifted as ours
    return burst(
        service.port,
        service.fake,
        account_id=ACCOUNT_IDS[0],
        app_secret=APP_SECRET,
        comments=plan.comments,
    )


def run(
    database_url: str | None, plan: Plan, web_processes: int, workers: int, log_dir: Path
) -> dict:
    with tempfile.TemporaryDirectory(prefix="instabot-bench-") as scratch:
        url = database_url or f"sqlite:///{scratch}/bench.sqlite3"
        service = Service(url, web_processes, workers, log_dir / "bench-service.log")
        try:
            report = {
                "machine": {**machine(url), "web_processes": web_processes, "workers": workers},
                "webhook": measure_webhook(service, plan),
                "floor": measure_floor(service, plan),
            }
            dm = measure_dm_to_reply(service, plan)
            cost = measure_cost(service, plan)
            dm["cost"] = cost
            dm["cpu_ms_per_dm"] = cost["cpu_ms_per_dm"]
            floor = report["floor"]["cpu_ms_per_dm"]
            dm["ratio_to_floor"] = round(cost["cpu_ms_per_dm"] / floor, 2) if floor else None
            dm["ratio_to_floor_new"] = round(cost["new"]["cpu_ms_per_dm"]["total"] / floor, 2)
            dm["ratio_to_floor_returning"] = round(
                cost["returning"]["cpu_ms_per_dm"]["total"] / floor, 2
            )
            busy = measure_cost(service, plan, prefix="6", rate=plan.busy_dm_rate)
            dm["busy"] = busy
            dm["cpu_ms_per_dm_busy"] = busy["cpu_ms_per_dm"]
            for kind in ("new", "returning"):
                total = busy[kind]["cpu_ms_per_dm"]["total"]
                dm[f"ratio_to_floor_busy_{kind}"] = round(total / floor, 2) if floor else None
            capacity = measure_capacity(service, plan)
            dm["capacity_rps"] = capacity["capacity_rps"]
            dm["capacity_ramp"] = capacity["ramp"]
            dm["trivial_rps_c16"] = report["webhook"].get("c16", {}).get("trivial", {}).get("rps")
            dm["idle_cpu_percent"] = measure_idle(service, plan.idle_seconds)
            report["dm_to_reply"] = dm
            report["comment_burst"] = measure_comment_burst(service, plan)
            if plan.history_messages:
                report["history"] = measure_history(service, plan, report)
            report["rss_mb"] = service.peak_rss_mb()
        finally:
            service.stop()
    report["rules"] = measure_rules(plan)
    report["knowledge"] = measure_knowledge(plan)
    return report
