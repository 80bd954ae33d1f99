"""The answers per rule and failed sends per reason of the days already rolled up move from
DailyFigures' JSON (`figures`: {"rules": {rule id: n}, "failed": {reason: n}}) into rows of
DailyBreakdown, which the database adds up (issue 27). Going back puts them into the JSON again,
as the code before reads it; the next migration drops the JSON."""

from collections import defaultdict

from django.db import migrations

from instabot.upserts import upsert_target

BATCH = 1000


def move_to_rows(apps, schema_editor):
    daily_figures = apps.get_model("inbox", "DailyFigures")
    daily_breakdown = apps.get_model("inbox", "DailyBreakdown")
    rows = []
    days = daily_figures.objects.order_by("pk").values_list("account_pk", "day", "figures")
    for account_pk, day, figures in days.iterator(chunk_size=BATCH):
        figures = figures or {}
        counts = [
            *(("rule", str(rule), n) for rule, n in figures.get("rules", {}).items()),
            *(("failed", reason, n) for reason, n in figures.get("failed", {}).items()),
        ]
        rows += [
            daily_breakdown(account_pk=account_pk, day=day, kind=kind, key=key, n=n)
            for kind, key, n in counts
            if n
        ]
        if len(rows) >= BATCH:
            _insert(daily_breakdown, rows)
            rows = []
    _insert(daily_breakdown, rows)


def _insert(daily_breakdown, rows):
    # As the rollup writes them (an upsert): on MySQL/MariaDB, whose unique index ignores case,
    # two reasons differing only in case are one row there, not a failed migration.
    daily_breakdown.objects.bulk_create(
        rows,
        update_conflicts=True,
        update_fields=["n"],
        **upsert_target(["account_pk", "day", "kind", "key"]),
    )


def move_back_to_figures(apps, schema_editor):
    daily_figures = apps.get_model("inbox", "DailyFigures")
    daily_breakdown = apps.get_model("inbox", "DailyBreakdown")
    figures = defaultdict(lambda: {"rules": {}, "failed": {}})
    counts = daily_breakdown.objects.values_list("account_pk", "day", "kind", "key", "n")
    for account_pk, day, kind, key, n in counts.iterator(chunk_size=BATCH):
        figures[(account_pk, day)]["rules" if kind == "rule" else "failed"][key] = n
    rows = list(daily_figures.objects.only("pk", "account_pk", "day"))
    for row in rows:
        row.figures = figures.get((row.account_pk, row.day), {"rules": {}, "failed": {}})
    daily_figures.objects.bulk_update(rows, ["figures"], batch_size=500)
    daily_breakdown.objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0005_daily_breakdown"),
    ]

    operations = [
        migrations.RunPython(move_to_rows, move_back_to_figures, elidable=True),
    ]
