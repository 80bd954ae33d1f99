"""The rollup's counts and answer times become columns (issue 27): the dashboard sums them per
day and per account in the database, on SQLite, MariaDB and PostgreSQL alike, instead of
reading every account's day. The rows already rolled up are moved over."""

from django.db import migrations, models

COUNTED = ("received", "rule", "fallback", "person", "comments_private", "comments_public")
ANSWER_TIMES = (
    "bot_median_seconds",
    "bot_p90_seconds",
    "person_median_seconds",
    "person_p90_seconds",
)


def move_to_columns(apps, schema_editor):
    daily_figures = apps.get_model("inbox", "DailyFigures")
    rows = list(daily_figures.objects.all())
    for row in rows:
        figures = row.figures or {}
        counts = figures.get("counts", {})
        times = figures.get("answer_times", {})
        for kind in COUNTED:
            setattr(row, kind, counts.get(kind, 0))
        for name in ANSWER_TIMES:
            setattr(row, name, times.get(name))
        row.figures = {"rules": figures.get("rules", {}), "failed": figures.get("failed", {})}
    daily_figures.objects.bulk_update(rows, [*COUNTED, *ANSWER_TIMES, "figures"], batch_size=500)


def move_back_to_figures(apps, schema_editor):
    """Going back: the columns into the JSON again, as the code before them reads it."""
    daily_figures = apps.get_model("inbox", "DailyFigures")
    rows = list(daily_figures.objects.all())
    for row in rows:
        figures = dict(row.figures or {})
        figures["counts"] = {kind: getattr(row, kind) for kind in COUNTED}
        figures["answer_times"] = {name: getattr(row, name) for name in ANSWER_TIMES}
        row.figures = figures
    daily_figures.objects.bulk_update(rows, ["figures"], batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0003_daily_figures"),
    ]

    operations = [
        *(
            migrations.AddField(
                model_name="dailyfigures",
                name=kind,
                field=models.PositiveIntegerField(default=0),
            )
            for kind in COUNTED
        ),
        *(
            migrations.AddField(
                model_name="dailyfigures",
                name=name,
                field=models.FloatField(null=True),
            )
            for name in ANSWER_TIMES
        ),
        migrations.RunPython(move_to_columns, move_back_to_figures, elidable=True),
    ]
