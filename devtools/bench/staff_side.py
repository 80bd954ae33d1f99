"""The staff side at the database's size: the inbox list, a long thread, the API's lists and
the dashboard, timed in-process with Django's test client (p50 and p99 ms, and the queries of
one request). Run inside `manage.py shell` with the service's environment (Service.shell);
prints one JSON line.

The dashboard is timed cold (its cache emptied before each request): the worst a user sees.
Each page is asked once before it is timed: the process's first request of a page loads its
code and templates (once per web process, not per request), which is not the page's cost.
"""

import json
import statistics
import time

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from messaging.models import Conversation, Message


def _percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def time_page(client: Client, path: str, runs: int, cold: bool = False) -> dict:
    samples, queries = [], []
    client.get(path)  # not timed: the first request of a page loads its code and templates
    for _ in range(runs):
        if cold:
            cache.clear()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        queries.append(len(captured))
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": _percentile(samples, 99),
        "queries": max(queries),
        "queries_constant": len(set(queries)) == 1,
    }


def run(runs: int, thread: int) -> dict:
    """The staff side timed `runs` times; `thread` is the loader's long thread, whose account
    is the one the per-account pages choose."""
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(user)
    account = Conversation.objects.get(pk=thread).account_id
    # A later page of the conversations, as a client paging through them reads it.
    later = "/api/conversations/"
    for _ in range(20):
        later = client.get(later).json()["next"]
    pages = {
        "inbox_page": "/inbox/",
        "inbox_list": "/inbox/updates",
        "long_thread": f"/inbox/c/{thread}",
        "api_conversations": "/api/conversations/",
        "api_conversations_page_21": later,
        "api_conversations_account": f"/api/conversations/?account={account}",
        "api_messages": "/api/messages/",
        "api_thread": f"/api/conversations/{thread}/messages/",
    }
    result = {path: time_page(client, url, runs) for path, url in pages.items()}
    for days in (14, 90):
        dashboard = f"/inbox/stats/?days={days}"
        result[f"dashboard_{days}d"] = time_page(client, dashboard, max(3, runs // 4), cold=True)
        result[f"dashboard_{days}d_one_account"] = time_page(
            client, f"{dashboard}&account={account}", max(3, runs // 4), cold=True
        )
    result["api_stats_90d"] = time_page(client, "/api/stats/?days=90&rows=none", max(3, runs // 4))
    result["messages"] = Message.objects.count()
    result["long_thread_messages"] = Message.objects.filter(conversation_id=thread).count()
    return result


def main(runs: int, thread: int) -> None:
    print("STAFF " + json.dumps(run(runs, thread)))
