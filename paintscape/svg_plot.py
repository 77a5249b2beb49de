"""Line charts as inline SVG: the run page's plots, with no plotting library to install."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

#: Distinguishable line colours (Tableau 10).
COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values in ``[low, high]``; line_chart widens a flat range first, so ``high > low``."""
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def line_chart(title: str, series: Mapping[str, Sequence[tuple[float, float]]], *, x_label: str = "step", width: int = 560, height: int = 260) -> str:
    """An ``<svg>`` with one polyline per named series of ``(x, y)`` points (non-finite y dropped)."""
    clean = {name: [(float(x), float(y)) for x, y in points if math.isfinite(y)] for name, points in series.items()}
    clean = {name: points for name, points in clean.items() if points}
    left, right, top, bottom = 60, 10, 28, 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<text x="{left}" y="18" font-weight="bold">{html.escape(title)}</text>']
    if not clean:
        out.append(f'<text x="{left}" y="{height // 2}">no data yet</text></svg>')
        return "\n".join(out)
    xs = [x for points in clean.values() for x, _ in points]
    ys = [y for points in clean.values() for _, y in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - abs(y0) * 0.1 - 1e-3, y1 + abs(y1) * 0.1 + 1e-3
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
    for tick in _ticks(y0, y1):
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{py(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick:.4g}</text>')
    for tick in _ticks(x0, x1):
        out.append(f'<text x="{px(tick):.1f}" y="{top + plot_h + 14}" text-anchor="middle" font-size="11">{tick:.6g}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" font-size="11">{html.escape(x_label)}</text>')
    for i, (name, points) in enumerate(clean.items()):
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        if len(points) == 1:
            x, y = points[0]
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        else:
            out.append(f'<polyline class="series" data-name="{html.escape(name)}" points="{coords}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        out.append(f'<text x="{left + plot_w - 4}" y="{top + 14 + 13 * i}" text-anchor="end" font-size="11" fill="{colour}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
