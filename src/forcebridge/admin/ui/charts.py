"""Server-rendered SVG charts for the dashboard: no JavaScript, no external library.

Charts are built as plain data (bars with coordinates and labels) that the template turns into
``<svg>`` markup, so they are autoescaped like every other value and readable without a browser
(each chart also carries a text summary for screen readers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

CHART_WIDTH = 960
CHART_HEIGHT = 180
AXIS_SPACE = 28
SIDE_MARGIN = 24
VALUE_SPACE = 50


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    series: str


@dataclass
class BarChart:
    title: str
    bars: list[Bar] = field(default_factory=list)
    tick_labels: list[tuple[float, str]] = field(default_factory=list)
    maximum: int = 0
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    summary: str = ""

    @property
    def plot_height(self) -> int:
        return self.height - AXIS_SPACE


def stacked_bars(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[int]],
    *,
    every_nth_label: int = 1,
) -> BarChart:
    """One column per label, the ``series`` stacked in order (e.g. succeeded, then failed)."""
    count = len(labels)
    totals = [sum(values[index] for values in series.values()) for index in range(count)]
    maximum = max(totals, default=0)
    chart = BarChart(title=title, maximum=maximum)
    if count == 0:
        chart.summary = f"{title}: no data."
        return chart
    # Side margins keep the first and last tick labels (centred on their bars) inside the chart.
    slot = (chart.width - 2 * SIDE_MARGIN) / count
    bar_width = max(1.0, slot * 0.7)
    scale = chart.plot_height / maximum if maximum else 0.0
    for index, label in enumerate(labels):
        x = SIDE_MARGIN + index * slot + (slot - bar_width) / 2
        bottom = float(chart.plot_height)
        for name, values in series.items():
            value = int(values[index])
            height = value * scale
            if value:
                chart.bars.append(Bar(x, bottom - height, bar_width, height, label, value, name))
            bottom -= height
        if index % every_nth_label == 0:
            chart.tick_labels.append((x + bar_width / 2, label))
    sums = {name: sum(values) for name, values in series.items()}
    chart.summary = f"{title}: " + ", ".join(f"{total} {name}" for name, total in sums.items())
    return chart


def horizontal_bars(title: str, rows: Sequence[tuple[str, int, int | None]]) -> BarChart:
    """One row per (label, used, limit): the bar is ``used`` against ``limit`` (or the largest)."""
    row_height = 28
    # Half the width of the column charts: these sit in half-width cards, so text keeps its size.
    chart = BarChart(
        title=title, width=CHART_WIDTH // 2, height=max(row_height * len(rows), row_height) + 8
    )
    if not rows:
        chart.summary = f"{title}: no data."
        return chart
    largest = max(max(used, limit or 0) for _label, used, limit in rows) or 1
    label_space = 130
    usable = chart.width - label_space - VALUE_SPACE
    for index, (label, used, limit) in enumerate(rows):
        scale_to = limit or largest
        width = usable * min(used / scale_to, 1.0) if scale_to else 0.0
        chart.bars.append(
            Bar(
                label_space,
                index * row_height + 4,
                max(width, 1.0),
                row_height - 10,
                label,
                used,
                "used",
            )
        )
    chart.maximum = largest
    chart.summary = f"{title}: " + ", ".join(
        f"{label} {used}" + (f" of {limit}" if limit else "") for label, used, limit in rows
    )
    return chart
