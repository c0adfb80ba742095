"""The dashboard's server-drawn SVG charts: well-formed, accessible, escaped, no inline
style (the page's CSP forbids it), and bars that scale with the figures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal

from services.web.admin import charts

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2026, 11, 7) + timedelta(days=i) for i in range(30)]


def parse(markup: str) -> ET.Element:
    text = str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    return ET.fromstring(text)  # noqa: S314 (our own markup)


def test_bars_scale_and_today_stands_out() -> None:
    values = [float(i % 5) for i in range(30)]
    root = parse(charts.bars_per_day("c", "Orders per day", DAYS, values))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c-t c-d"
    bars = root.findall(f"{SVG}rect")
    assert len(bars) == 30
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[4] > heights[3] > heights[0] == 0  # 4 > 3 > 0 units
    assert bars[-1].get("class") == "bar today"
    assert "total 60" in (root.findtext(f"{SVG}desc") or "")
    assert "style" not in charts.bars_per_day("c", "t", DAYS, values)


def test_the_revenue_line_has_a_point_per_day() -> None:
    values = [Decimal("19.99") * i for i in range(30)]
    root = parse(charts.line_per_day("r", "Revenue", DAYS, values))
    assert len(root.findall(f"{SVG}circle")) == 30
    points = root.find(f"{SVG}polyline").get("points", "").split()  # type: ignore[union-attr]
    ys = [float(p.split(",")[1]) for p in points]
    assert ys == sorted(ys, reverse=True)  # growing revenue: the line rises (smaller y)


def test_an_empty_period_still_draws() -> None:
    root = parse(charts.bars_per_day("c", "Orders", DAYS, [0.0] * 30))
    assert all(float(b.get("height", "1")) == 0 for b in root.findall(f"{SVG}rect"))
    parse(charts.line_per_day("r", "Revenue", [], []))


def test_labels_are_escaped() -> None:
    markup = charts.horizontal_bars("s", "By <status>", [("<b>x</b>", "s-x", 3), ("y", "s-y", 0)])
    root = parse(markup)
    assert root.findtext(f"{SVG}title") == "By <status>"
    assert "<b>" not in markup
    widths = [float(r.get("width", "0")) for r in root.findall(f"{SVG}rect")]
    assert widths[0] > widths[1] > 0
