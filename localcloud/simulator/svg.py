"""Two kinds of inline SVG chart, plain strings, no assets: horizontal bars and stacked columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2f7d5b", "#d08c2b", "#3a6ea5", "#b5485d", "#7a5ea8", "#5f8f9f", "#8a8a3a")
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"


def bars(items: Sequence[tuple[str, float]], unit: str = "", width: int = 640, color: str = PALETTE[0]) -> str:
    """One labelled horizontal bar per item, longest = full width."""
    if not items:
        return '<p class="empty">nothing to show</p>'
    label_w, bar_h, gap = 150, 22, 8
    top = max((v for _, v in items), default=0) or 1
    height = len(items) * (bar_h + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" {FONT}>']
    for n, (label, value) in enumerate(items):
        y = gap + n * (bar_h + gap)
        length = max(1.0, (width - label_w - 90) * value / top) if value else 0
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{color}" rx="3"/>')
        parts.append(f'<text x="{label_w + length + 6:.1f}" y="{y + 15}">{_number(value)}{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_columns(columns: Sequence[str], series: Mapping[str, Sequence[float]], unit: str = "",
                    width: int = 760, height: int = 280) -> str:
    """One column per entry of ``columns``, each split by ``series`` (same length each), with a legend."""
    if not columns:
        return '<p class="empty">nothing to show</p>'
    left, bottom, top_pad, legend_h = 48, 24, 22, 22
    plot_w, plot_h = width - left - 10, height - bottom - top_pad - legend_h
    totals = [sum(values[i] for values in series.values()) for i in range(len(columns))]
    top = max(totals, default=0) or 1
    step = plot_w / len(columns)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" {FONT}>']
    for tick in (0, 0.5, 1):
        y = top_pad + plot_h * (1 - tick)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(top * tick)}</text>')
    for i, column in enumerate(columns):
        x, base = left + i * step + 1, float(top_pad + plot_h)
        for n, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / top
            if h > 0:
                base -= h
                parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{max(1.0, step - 2):.1f}" height="{h:.1f}" '
                             f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(column)} {escape(name)}: '
                             f'{_number(values[i])}{escape(unit)}</title></rect>')
        if len(columns) <= 24 or i % 2 == 0:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{height - legend_h - 8}" text-anchor="middle">'
                         f'{escape(column)}</text>')
    x = left
    for n, name in enumerate(series):
        parts.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{PALETTE[n % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 5}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    parts.append(f'<text x="4" y="12">{escape(unit.strip())}</text></svg>')
    return "".join(parts)
