"""Answer times as people read them: seconds under a minute, then minutes, hours and days (the
dashboard's tables and chart). The API and the CSV keep seconds."""

# (seconds in the unit, its name in a chart's title, its symbol after a value): the largest
# unit a time reaches is the one it is shown in.
UNITS = (
    (86400, "days", "days"),
    (3600, "hours", "h"),
    (60, "minutes", "min"),
    (1, "seconds", "s"),
)
NONE = "\u2013"


def unit_for(seconds: float) -> tuple[int, str, str]:
    """The unit `seconds` is shown in: (its size in seconds, name, symbol)."""
    for unit in UNITS:
        if seconds >= unit[0]:
            return unit
    return UNITS[-1]


def readable(seconds: float | None) -> str:
    """The time as 45 s, 1.5 min, 2.3 h or 1.2 days (one decimal, none when it is 0); an en
    dash without a time (as the tables show a missing figure)."""
    if seconds is None:
        return NONE
    size, _, symbol = unit_for(seconds)
    value = f"{seconds / size:.1f}".removesuffix(".0")
    if symbol == "days" and value == "1":
        symbol = "day"
    return f"{value} {symbol}"
