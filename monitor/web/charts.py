"""Small charts drawn on the server as SVG: no script, no style attribute
(the Content-Security-Policy forbids inline styles), only presentation
attributes. Every label is escaped."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

# A palette that stays readable for the common colour-vision deficiencies.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#999999")


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def sparkline(values: Sequence[int], title: str, width: int = 120, height: int = 24) -> Markup:
    """Bars, one per value, scaled to the largest."""
    n = max(len(values), 1)
    top = max(max(values, default=0), 1)
    bar = width / n
    body = []
    for i, v in enumerate(values):
        h = (height - 2) * v / top
        body.append(
            f'<rect x="{i * bar:.1f}" y="{height - h:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="#0072b2"><title>{v}</title></rect>'
        )
    body.append(
        f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" stroke="#bbb"/>'
    )
    return _svg(width, height, title, body)


def stacked_bars(
    days: Sequence[str],
    series: dict[str, Sequence[int]],
    title: str,
    width: int = 640,
    height: int = 200,
) -> Markup:
    """One bar per day, stacked by series, with a legend."""
    left, bottom, top_pad = 36, 22, 8
    legend_h = 18 * ((len(series) + 3) // 4)
    plot_h = height - bottom - top_pad
    total_h = height + legend_h
    n = max(len(days), 1)
    totals = [sum(s[i] for s in series.values()) for i in range(len(days))]
    top = max(max(totals, default=0), 1)
    bar = (width - left) / n
    body = [
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width}" y2="{top_pad + plot_h}" stroke="#888"/>',
        f'<text x="{left - 4}" y="{top_pad + 8}" text-anchor="end" font-size="10" fill="#444">{top}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end" font-size="10" fill="#444">0</text>',
    ]
    for i, day in enumerate(days):
        y: float = top_pad + plot_h
        for k, (name, values) in enumerate(series.items()):
            v = values[i]
            if not v:
                continue
            h = plot_h * v / top
            y -= h
            body.append(
                f'<rect x="{left + i * bar + 1:.1f}" y="{y:.1f}" width="{max(bar - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[k % len(PALETTE)]}">'
                f"<title>{escape(day)} {escape(name)}: {v}</title></rect>"
            )
        if i % max(1, n // 7) == 0:
            body.append(
                f'<text x="{left + i * bar + bar / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                f'font-size="10" fill="#444">{escape(day[5:])}</text>'
            )
    for k, name in enumerate(series):
        x = left + (k % 4) * ((width - left) / 4)
        y = height + 18 * (k // 4) + 4
        body.append(
            f'<rect x="{x:.1f}" y="{y}" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>'
            f'<text x="{x + 14:.1f}" y="{y + 9}" font-size="11" fill="#222">{escape(name)}</text>'
        )
    return _svg(width, total_h, title, body)


def line(
    labels: Sequence[str], values: Sequence[int], title: str, width: int = 640, height: int = 160
) -> Markup:
    """A line over time with its points."""
    left, bottom, top_pad = 36, 22, 8
    plot_h = height - bottom - top_pad
    n = max(len(values) - 1, 1)
    top = max(max(values, default=0), 1)
    xs = [left + (width - left - 6) * i / n for i in range(len(values))]
    ys = [top_pad + plot_h - plot_h * v / top for v in values]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    body = [
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width}" y2="{top_pad + plot_h}" stroke="#888"/>',
        f'<text x="{left - 4}" y="{top_pad + 8}" text-anchor="end" font-size="10" fill="#444">{top}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end" font-size="10" fill="#444">0</text>',
        f'<polyline points="{points}" fill="none" stroke="#0072b2" stroke-width="2"/>',
    ]
    step = max(1, len(labels) // 6)
    for i, (x, y) in enumerate(zip(xs, ys)):
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#0072b2">'
            f"<title>{escape(labels[i])}: {values[i]}</title></circle>"
        )
        if i % step == 0:
            body.append(
                f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" font-size="10" '
                f'fill="#444">{escape(labels[i])}</text>'
            )
    return _svg(width, height, title, body)
