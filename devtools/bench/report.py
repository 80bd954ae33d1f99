"""What the run reports: the machine it ran on, and the table printed at the end (--json has
every figure)."""

import os
import platform
from pathlib import Path

import django


def machine(database_url: str) -> dict:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": database_url.split(":", 1)[0],
        "os": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def table(report: dict) -> str:
    webhook, dm, rules = report["webhook"], report["dm_to_reply"], report["rules"]
    lines = ["Webhook ingestion (requests/s; latency p50/p99 ms)"]
    levels = [k for k in webhook if k.startswith("c") and k[1:].isdigit()]
    # The goal's level with the workers stopped (reports of older runs have none).
    levels += [k for k in webhook if k.endswith("_workers_stopped") and k.startswith("c")]
    for key in levels:
        hook, base = webhook[key]["webhook"], webhook[key]["trivial"]
        level = key.removesuffix("_workers_stopped")
        if level != key:
            lines.append(f"  {level} again, the workers stopped (the web processes alone):")
        lines.append(
            f"  {level:>4}  webhook {hook['rps']:>7}/s ({hook['p50_ms']}/{hook['p99_ms']})"
            f"   trivial {base['rps']:>7}/s ({base['p50_ms']}/{base['p99_ms']})"
            f"   ratio {webhook[f'ratio_to_trivial_{key}']}"
            f"   errors {hook['errors'] + base['errors']}"
        )
        lines.append(
            f"        CPU ms per request: webhook {_cpu_ms_perrequest_status(hook)}, "
            f"trivial {_cpu_ms_perrequest_status(base)}"
        )
    steady = webhook["at_200rps"]
    lines.append(
        f"  at 200 deliveries/s: p50 {steady['p50_ms']} ms, p99 {steady['p99_ms']} ms, "
        f"errors {steady['errors']}"
    )
    lines.append(
        "DM to reply (POST -> Send API call at the fake Graph API; "
        f"DMs spread over {dm['accounts']} accounts)"
    )
    for key in (k for k in dm if k.startswith("at_")):
        row = dm[key]
        lines.append(
            f"  {key[3:]:>7}  p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
            f"max {row['max_ms']} ms; {row['answered']}/{row['sent']} answered; "
            f"backlog at the end {row['backlog_end']}"
        )
        lines.append(f"           CPU, % of a core: {_cpu_shares(row['cpu_percent'])}")
    floor = report["floor"]
    lines.append(
        f"Floor (one process, tight loop, {floor['body_bytes']} B deliveries): "
        f"{floor['cpu_ms_per_dm']} ms CPU per DM (process {floor['process_cpu_ms_per_dm']}, "
        f"database {floor['database_cpu_ms_per_dm']}"
        f"{'' if floor['database_cpu_measured'] else ' (in-process or not measured)'}); "
        f"{floor['dms_per_second']} DMs/s"
    )
    for cost in (dm["cost"], dm.get("busy")):
        if cost is None:
            continue  # a report from before the busy rate was measured
        for kind in ("new", "returning"):
            row = cost[kind]
            per = row["cpu_ms_per_dm"]
            lines.append(
                f"CPU per answered DM at {cost['rate']}/s, {kind} customers: {per['total']} ms "
                f"(web {per['web']}, workers {per['workers']}, database {per['database']}); "
                f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
                f"backlog at the end {row['backlog_end']}"
            )
    lines.append(
        f"  ratio to the floor at {dm['cost']['rate']}/s: {dm['ratio_to_floor']} "
        f"(new {dm['ratio_to_floor_new']}, returning {dm['ratio_to_floor_returning']})"
    )
    if "busy" in dm:
        lines.append(
            f"  ratio to the floor at {dm['busy']['rate']}/s: new "
            f"{dm['ratio_to_floor_busy_new']}, returning {dm['ratio_to_floor_busy_returning']}"
        )
    ramp = ", ".join(
        f"{step['rate']}/s {'flat' if step['flat'] else 'backlog ' + str(step['backlog_end'])}"
        for step in dm["capacity_ramp"]
    )
    lines.append(
        f"Capacity: {dm['capacity_rps']} DMs/s with a flat backlog ({ramp}); "
        f"/ping {dm['trivial_rps_c16']}/s at c16"
    )
    lines.append(f"Idle, % of a core: {_cpu_shares(dm['idle_cpu_percent'])}")
    burst = report["comment_burst"]
    lines.append(
        f"Viral post ({burst['comments']} matching comments; private replies under a lifted "
        "hourly limit)"
    )
    lines.append(
        f"  webhook {burst['accepted_per_second']} comments/s (p99 {burst['webhook_p99_ms']} ms, "
        f"errors {burst['webhook_errors']}); replies drained "
        f"{burst['private_replies_per_second']}/s ({burst['private_replies_sent']} sent in "
        f"{burst['drain_seconds']} s)"
    )
    lines.append(f"  at Meta's 750 an hour: {burst['hours_to_drain_at_limit']} h to drain")
    if history := report.get("history"):
        lines.extend(_history_lines(history))
    lines.append("Rule matching (ms per message)")
    for count in (10, 1_000, 10_000):
        if f"median_ms_{count}" in rules:
            lines.append(
                f"  {count:>6} rules  median {rules[f'median_ms_{count}']}, "
                f"p99 {rules[f'p99_ms_{count}']}, build {rules[f'build_ms_{count}']}"
            )
    if knowledge := report.get("knowledge"):
        lines.extend(_knowledge_lines(knowledge))
    rss = report["rss_mb"]
    lines.append(f"Peak RSS: web process {rss['web']} MB, worker {rss['worker']} MB")
    m = report["machine"]
    lines.append(
        f"Machine: {m['cores']} cores ({m['cpu']}), Python {m['python']}, Django {m['django']}, "
        f"{m['database']}; {m['web_processes']} web processes, {m['workers']} workers"
    )
    return "\n".join(lines)


def _knowledge_lines(knowledge: dict) -> list[str]:
    lines = ["Knowledge retrieval (ms per question)"]
    for count in (20, 200, 2_000):
        if f"median_ms_{count}" in knowledge:
            lines.append(
                f"  {count:>6} entries median {knowledge[f'median_ms_{count}']}, "
                f"p99 {knowledge[f'p99_ms_{count}']}, build {knowledge[f'build_ms_{count}']} ms, "
                f"index {knowledge[f'index_mb_{count}']} MB"
            )
    lines.append(
        f"  library (numpy, bm25s) {knowledge['library_rss_mb']} MB; evaluation set: hit "
        f"{knowledge['eval_hit_rate']:.1%}, wrong {knowledge['eval_wrong_rate']:.1%} of the "
        f"answers ({knowledge['eval_questions']} questions, "
        f"threshold {knowledge['eval_threshold']})"
    )
    return lines


def _cpu_shares(cpu_percent: dict) -> str:
    return ", ".join(f"{group} {share}" for group, share in cpu_percent.items())


def _cpu_ms_perrequest_status(result: dict) -> str:
    """Each group's CPU per answered request (web / workers / load generator and fake)."""
    if not result["rps"]:
        return "-"
    return " / ".join(
        f"{share * 10 / result['rps']:.2f}" for share in result["cpu_percent"].values()
    )


def _history_lines(history: dict) -> list[str]:
    versus, dm = history["versus_empty"], history["dm_to_reply"]
    lines = [
        f"History: {history['messages']:,} messages loaded in {history['load_seconds']} s, "
        f"the dashboard's days rolled up in {history.get('rollup_seconds', '?')} s",
        f"  webhook p99 at 200/s {history['webhook_p99_ms_at_200rps']} ms "
        f"(x{versus['webhook_p99_at_200rps']} the empty database); DM-to-reply p50 "
        f"{dm['p50_ms']} ms (x{versus['dm_p50']}), p99 {dm['p99_ms']} ms (x{versus['dm_p99']}); "
        f"CPU per DM {history['cost']['cpu_ms_per_dm']} ms (x{versus['cpu_ms_per_dm']})",
    ]
    for name, page in history["staff"].items():
        if isinstance(page, dict):
            lines.append(
                f"  {name:<26} p50 {page['p50_ms']:>8} ms, p99 {page['p99_ms']:>8} ms, "
                f"{page['queries']} queries{'' if page['queries_constant'] else ' (varies)'}"
            )
    return lines
