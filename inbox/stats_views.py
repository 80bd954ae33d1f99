"""/inbox/stats/: the dashboard (SVG charts drawn on the server) and its figures as CSV.
The same figures are JSON at /api/stats/ (inbox.api)."""

import csv
import logging

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import accounts_visible_to
from contacts.ab_results import variant_results
from inbox import charts, durations, stats

logger = logging.getLogger(__name__)

# The dashboard reads messages: it needs the permission to view them.
PERMISSION = "messaging.view_message"


def _figures(request, *, account_days: bool):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied(f"You need the {PERMISSION} permission.")
    stats_range = stats.StatsRange.from_query(request.GET)
    return stats_range, stats.figures(request.user, stats_range, account_days=account_days)


@staff_member_required
@require_GET
def dashboard(request):
    try:
        # A row a day and a row an account: each account's days only when it is chosen (its
        # days are then the days' rows), never a row per account and day to draw.
        stats_range, figures = _figures(request, account_days=False)
    except stats.BadRange as exc:
        logger.info("Dashboard: refused %s: %s", request.get_full_path(), exc)
        # 400: a range the dashboard does not serve.
        return HttpResponseBadRequest(str(exc))
    days = stats_range.day_list
    totals = stats.daily_totals(figures, days)
    # The answer times in the unit their longest reaches (hours, not 105,660 seconds).
    size, unit, _ = durations.unit_for(max(totals["bot_median"] + totals["person_median"]))
    context = {
        "figures": figures,
        "range": stats_range,
        # The accounts to choose from: their names (not their tokens, decrypted when read).
        "accounts": accounts_visible_to(request.user).only("name", "username"),
        "query": request.GET.urlencode(),
        "ab_tests": variant_results(request.user, *stats_range.bounds(), stats_range.account),
        "answers_chart": charts.bar_chart(
            "DMs answered per day",
            days,
            [
                ("by a rule", "rule", totals["rule"]),
                ("by the fallback", "fallback", totals["fallback"]),
                ("by a person", "person", totals["person"]),
            ],
            stacked=True,
        ),
        "received_chart": charts.bar_chart(
            "DMs received per day",
            days,
            [("received", "received", totals["received"])],
            stacked=True,
        ),
        "comments_chart": charts.bar_chart(
            "Comments answered per day",
            days,
            [
                ("privately (DM)", "comments-private", totals["comments_private"]),
                ("publicly", "comments-public", totals["comments_public"]),
            ],
            stacked=True,
        ),
        "times_chart": charts.bar_chart(
            f"Median time to the first answer ({unit})",
            days,
            [
                ("bot", "bot", [round(s / size, 1) for s in totals["bot_median"]]),
                ("person", "person", [round(s / size, 1) for s in totals["person_median"]]),
            ],
            stacked=False,
        ),
    }
    return render(request, "inbox/stats.html", context)


@staff_member_required
@require_GET
def stats_csv(request):
    try:
        stats_range, figures = _figures(request, account_days=True)
    except stats.BadRange as exc:
        logger.info("Dashboard CSV: refused %s: %s", request.get_full_path(), exc)
        # 400: a range the dashboard does not serve.
        return HttpResponseBadRequest(str(exc))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"instabot-stats-{stats_range.first_day.isoformat()}-{stats_range.days}d.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.DictWriter(response, fieldnames=stats.CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(figures["rows"])
    # 200: one row per account and day.
    return response
