"""Charts drawn on the server as SVG: no chart library, no script, nothing inline that the
page's Content-Security-Policy would refuse (colours come from classes in admin.css).

Each function returns the markup of one accessible <svg> (role="img", a <title> and a
<desc> with the figures), safe to insert into a page: every text is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 560, 230
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 50, 14, 14, 30


def _nice_max(value: float, ticks: int = 4) -> float:
    """The top of an axis of `ticks` equal steps, each a round number (1 to 8 x a power of
    ten), high enough for `value`."""
    if value <= 0:
        return float(ticks)
    rough = value / ticks
    magnitude = 10.0 ** math.floor(math.log10(rough))
    step = next(s * magnitude for s in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
                if rough <= s * magnitude)
    if step < 1:  # counts and money never need steps under one
        step = 1.0
    return step * ticks


def _fmt(value: float, money: bool) -> str:
    """An exact figure, for the descriptions and tooltips."""
    if money:
        return f"${value:,.2f}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def compact(value: float, money: bool = False) -> str:
    """A short figure for an axis or a tile: 950, 1.2k, 20M."""
    sign = "$" if money else ""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            short = f"{value / size:.1f}".rstrip("0").rstrip(".")
            return f"{sign}{short}{suffix}"
    return f"{sign}{value:,.0f}" if value == int(value) else f"{sign}{value:,.2f}"


def _grid(top: float, money: bool, klass: str = "gridline") -> list[str]:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    out = []
    for i in range(5):
        value = top * i / 4
        y = PAD_TOP + plot_h - plot_h * i / 4
        out.append(f'<line class="{klass}" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" '
                   f'y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{escape(compact(value, money))}</text>')
    return out


def _day_labels(days: Sequence[date], step_x: float) -> list[str]:
    out = []
    every = max(1, len(days) // 6)
    for i, day in enumerate(days):
        if i % every and i != len(days) - 1:
            continue
        x = PAD_LEFT + step_x * (i + 0.5)
        last = i == len(days) - 1
        anchor = "end" if last and len(days) > 1 else "middle"
        x = min(x + (step_x / 2 if last else 0), WIDTH - 2) if anchor == "end" else x
        out.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 10}" '
                   f'text-anchor="{anchor}">{escape(day.strftime("%d %b"))}</text>')
    return out


def _svg(chart_id: str, title: str, desc: str, body: list[str]) -> Markup:
    # Every text above went through escape(); the rest are numbers and constants.
    return Markup(  # noqa: S704
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>{"".join(body)}</svg>')


def bars_per_day(chart_id: str, title: str, days: Sequence[date],
                 values: Sequence[float], *, money: bool = False) -> Markup:
    """One bar per day; the last (today) stands out."""
    top = _nice_max(max(values, default=0))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(len(days), 1)
    body = _grid(top, money)
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        h = plot_h * value / top if top else 0
        x = PAD_LEFT + step * i + step * 0.15
        y = PAD_TOP + plot_h - h
        klass = "bar today" if i == len(days) - 1 else "bar"
        body.append(f'<rect class="{klass}" x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
                    f'height="{max(h, 0):.1f}" rx="2"><title>{escape(day.isoformat())}: '
                    f'{escape(_fmt(value, money))}</title></rect>')
    body += _day_labels(days, step)
    total = sum(values)
    desc = (f"{len(days)} days from {days[0].isoformat()} to {days[-1].isoformat()}; total "
            f"{_fmt(total, money)}; highest {_fmt(max(values), money)}." if days else "No data.")
    return _svg(chart_id, title, desc, body)


def line_per_day(chart_id: str, title: str, days: Sequence[date],
                 values: Sequence[Decimal | float], *, money: bool = True) -> Markup:
    """A line with a shaded area under it, one point per day."""
    floats = [float(v) for v in values]
    top = _nice_max(max(floats, default=0))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(len(days), 1)
    points = [(PAD_LEFT + step * (i + 0.5), PAD_TOP + plot_h - plot_h * v / top)
              for i, v in enumerate(floats)]
    body = _grid(top, money)
    if points:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        base = PAD_TOP + plot_h
        area = f"{points[0][0]:.1f},{base:.1f} {line} {points[-1][0]:.1f},{base:.1f}"
        body.append(f'<polygon class="area" points="{area}"/>')
        body.append(f'<polyline class="line" points="{line}"/>')
        for (x, y), day, v in zip(points, days, floats, strict=True):
            body.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>'
                        f'{escape(day.isoformat())}: {escape(_fmt(v, money))}</title></circle>')
    body += _day_labels(days, step)
    desc = (f"{len(days)} days from {days[0].isoformat()} to {days[-1].isoformat()}; total "
            f"{_fmt(sum(floats), money)}." if days else "No data.")
    return _svg(chart_id, title, desc, body)


def horizontal_bars(chart_id: str, title: str, rows: Sequence[tuple[str, str, int]]) -> Markup:
    """Labelled horizontal bars: (label, css class, count)."""
    row_h, label_w = 42, 104
    height = PAD_TOP + row_h * max(len(rows), 1) + 6
    top = max((n for _, _, n in rows), default=0) or 1
    width = WIDTH - label_w - 60
    body = []
    for i, (label, klass, n) in enumerate(rows):
        y = PAD_TOP + i * row_h
        w = width * n / top
        body.append(f'<text class="label" x="{label_w - 8}" y="{y + 25}" '
                    f'text-anchor="end">{escape(label)}</text>')
        body.append(f'<rect class="hbar {escape(klass)}" x="{label_w}" y="{y + 6}" '
                    f'width="{max(w, 1.5):.1f}" height="{row_h - 12}" rx="4"/>')
        body.append(f'<text class="value" x="{label_w + max(w, 1.5) + 6:.1f}" y="{y + 25}">'
                    f'{n:,}</text>')
    desc = "; ".join(f"{label}: {n}" for label, _, n in rows) or "No data."
    return Markup(  # noqa: S704 (escaped as in _svg)
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>{"".join(body)}</svg>')
