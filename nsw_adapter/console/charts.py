"""Bar charts as inline SVG drawn on the server: no JavaScript, nothing fetched, readable offline.

Every text in a chart is escaped; the numbers come from the read model (counts only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 860, 220
_LEFT, _BOTTOM, _TOP, _RIGHT = 44, 28, 12, 8


@dataclass(frozen=True, slots=True)
class Series:
    """One kind of bar: its name (the legend) and its CSS class (the colour, in console.css)."""

    name: str
    css: str


def bar_chart(
    title: str, labels: Sequence[str], series: Sequence[Series], values: Sequence[Sequence[int]]
) -> str:
    """Grouped bars: `values[i][j]` is series j at label i. Every `step`-th label is written."""
    top = max((v for row in values for v in row), default=0)
    scale_max = _nice(top)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    group = plot_w / max(1, len(labels))
    bar = max(1.0, group * 0.8 / max(1, len(series)))
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for fraction in (0.0, 0.5, 1.0):  # three gridlines, labelled
        y = _TOP + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        value = round(scale_max * fraction)
        parts.append(f'<text class="axis" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    for i, row in enumerate(values):
        x0 = _LEFT + i * group + group * 0.1
        for j, value in enumerate(row):
            if value <= 0:
                continue
            height = plot_h * value / scale_max
            x, y = x0 + j * bar, _TOP + plot_h - height
            parts.append(
                f'<rect class="{escape(series[j].css)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}"><title>{escape(labels[i])}: {value} {escape(series[j].name)}'
                "</title></rect>"
            )
    step = max(1, len(labels) // 12)
    for i in range(0, len(labels), step):
        x = _LEFT + i * group + group / 2
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(labels[i])}</text>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="legend"><svg width="10" height="10"><rect class="{escape(s.css)}" width="10" '
        f'height="10"/></svg> {escape(s.name)}</span>'
        for s in series
    )
    return "".join(parts) + f'<div class="legends">{legend}</div>'


def _nice(top: int) -> int:
    """The axis maximum: the next of 1, 2, 5 x 10^n at or above `top` (at least 1)."""
    if top <= 1:
        return 1
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= top:
                return factor * magnitude
        magnitude *= 10
