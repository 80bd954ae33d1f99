"""Bar charts as SVG, drawn on the server: the dashboard needs no chart library."""

from datetime import date

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 480, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 14, 34
# At most this many day labels under the bars.
MAX_LABELS = 7


def bar_chart(
    title: str, days: list[date], series: list[tuple[str, str, list[float]]], *, stacked: bool
) -> SafeString:
    """One group of bars a day. `series`: (label, CSS class, one value a day). Stacked bars
    add up (answers by kind); unstacked ones stand side by side (two medians)."""
    if stacked:
        peak = max((sum(values) for values in zip(*(s[2] for s in series), strict=True)), default=0)
    else:
        peak = max((v for s in series for v in s[2]), default=0)
    peak = peak or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = slot * 0.7 / (1 if stacked else len(series))
    shapes = []
    # Hundreds of bars at 90 days: each text escaped once, the bars written as plain strings
    # (format_html per bar was a fifth of the dashboard's time) and marked safe together below.
    escaped = [(escape(label), escape(css), values) for label, css, values in series]
    for n, day in enumerate(days):
        x0 = LEFT + n * slot + slot * 0.15
        base = 0.0
        for k, (label, css, values) in enumerate(escaped):
            value = values[n]
            height = plot_h * value / peak
            x = x0 if stacked else x0 + k * bar_w
            y = TOP + plot_h - height - (plot_h * base / peak if stacked else 0)
            if value:
                shapes.append(
                    f'<rect class="{css}" x="{x}" y="{y}" width="{bar_w}" height="{height}">'
                    f"<title>{day.isoformat()} {label}: {escape(_number(value))}</title></rect>"
                )
            if stacked:
                base += value
        if n % max(1, -(-len(days) // MAX_LABELS)) == 0:
            shapes.append(
                format_html(
                    '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{LEFT + n * slot + slot / 2:.1f}",
                    HEIGHT - BOTTOM + 16,
                    day.strftime("%d %b"),
                )
            )
    axis = format_html(
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>'
        '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>'
        '<text class="tick" x="{}" y="{}" text-anchor="end">0</text>',
        LEFT,
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h,
        LEFT - 6,
        TOP + 10,
        _number(peak),
        LEFT - 6,
        TOP + plot_h,
    )
    legend = format_html_join(
        "",
        '<span class="key"><span class="swatch {}"></span>{}</span>',
        ((css, label) for label, css, _ in series),
    )
    return format_html(
        '<figure class="chart"><figcaption>{}</figcaption>'
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}">{}{}</svg>'
        '<div class="legend">{}</div></figure>',
        title,
        WIDTH,
        HEIGHT,
        title,
        axis,
        mark_safe("".join(shapes)),  # noqa: S308 - every text in them is escaped above
        legend,
    )


def _number(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value:,.0f}"
