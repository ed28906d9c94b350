#!/usr/bin/env python3
"""Renders a benchmark's results (bench/results/*/results.json) as an SVG chart: req/s and
p99 latency per scenario, ticketgate vs PostGraphile vs the SQL limit (and the hand-written
SQL of bench/handsql/ where it was loaded). Plain SVG written
by hand, so nothing needs installing.

    python3 bench/chart.py bench/results/latest.json bench/results/latest.svg
"""

from __future__ import annotations

import json
import math
import sys
from html import escape

SERIES = [
    ("ticketgate", "ticketgate", "#d9480f"),
    ("postgraphile", "PostGraphile 5", "#1c7ed6"),
    ("sql", "SQL limit (pgbench)", "#868e96"),
    ("handsql", "hand-written SQL (pgbench)", "#2f9e44"),
]


def _label(v):
    if v is None:
        return ""
    if v >= 1000:
        return f"{v / 1000:.3g}k"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.0f}" if v == int(v) else f"{v:.1f}"
    return f"{v:.3g}"


def _panel(out, x0, y0, w, h, title, unit, groups, metric, better):
    """Grouped bars on a log scale (the scenarios span orders of magnitude): one group per
    scenario, one bar per series."""
    values = [
        (g["targets"].get(key) or {}).get(metric)
        for g in groups
        for key, _, _ in SERIES
    ]
    values = [v for v in values if v and v > 0] or [1]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    if hi <= lo:
        hi = lo * 10
    span = math.log10(hi / lo)

    def y_of(v):
        return y0 + h - h * math.log10(max(v, lo) / lo) / span

    out.append(f'<text x="{x0}" y="{y0 - 14}" class="title">{escape(title)}</text>')
    out.append(f'<text x="{x0 + w}" y="{y0 - 14}" class="note" text-anchor="end">{escape(better)} (log scale)</text>')
    decade = lo
    while decade <= hi * 1.0001:
        for mult in (1, 2, 5):
            v = decade * mult
            if v > hi * 1.0001:
                break
            y = y_of(v)
            cls = "grid" if mult == 1 else "grid minor"
            out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" class="{cls}"/>')
            out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{_label(v)}</text>')
        decade *= 10
    out.append(
        f'<text x="{x0 - 48}" y="{y0 + h / 2}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 {x0 - 48} {y0 + h / 2})">{escape(unit)}</text>'
    )
    n = max(len(groups), 1)
    gw = w / n
    bw = min(34, gw * 0.8 / len(SERIES))
    for gi, g in enumerate(groups):
        gx = x0 + gi * gw + (gw - bw * len(SERIES)) / 2
        for si, (key, _, color) in enumerate(SERIES):
            v = (g["targets"].get(key) or {}).get(metric)
            if not v:
                continue
            y = y_of(v)
            bh = y0 + h - y
            x = gx + si * bw
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw - 3:.1f}" height="{bh:.1f}" fill="{color}">'
                f"<title>{escape(g['name'])}: {key} {v:.2f} {escape(unit)}</title></rect>"
            )
            out.append(
                f'<text x="{x + (bw - 3) / 2:.1f}" y="{y - 4:.1f}" class="value" text-anchor="middle">{_label(v)}</text>'
            )
        ratio = g.get("ratio_tg_pgl")
        label = f"{g['id']}. {g['name']}"
        out.append(f'<text x="{x0 + gi * gw + gw / 2:.1f}" y="{y0 + h + 18}" class="axis" text-anchor="middle">{escape(label)}</text>')
        notes = []
        if metric == "rps" and ratio:
            notes.append(f"{ratio:.2f}× PostGraphile")
        if metric == "rps" and g.get("tg_fraction_of_sql"):
            notes.append(f"{g['tg_fraction_of_sql'] * 100:.0f} % of SQL")
        if metric == "rps" and g.get("tg_fraction_of_handsql"):
            notes.append(f"{g['tg_fraction_of_handsql'] * 100:.0f} % of hand SQL")
        for ni, note in enumerate(notes):
            out.append(
                f'<text x="{x0 + gi * gw + gw / 2:.1f}" y="{y0 + h + 34 + 14 * ni}" class="note" text-anchor="middle">'
                f"{escape(note)}</text>"
            )
    out.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" class="base"/>')


def render(results) -> str:
    groups = [s for s in results["scenarios"] if "targets" in s]
    meta = results.get("meta", {})
    p = meta.get("parameters", {})
    m = meta.get("machine", {})
    width = max(760, 150 * len(groups) + 140)
    pw, ph = width - 130, 230
    height = 2 * ph + 285
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">',
        "<style>.title{font-size:15px;font-weight:600;fill:#212529}.axis{font-size:11px;fill:#495057}"
        ".value{font-size:10px;fill:#212529}.note{font-size:11px;fill:#868e96}"
        ".grid{stroke:#dee2e6;stroke-width:1}.minor{stroke:#f1f3f5}.base{stroke:#495057;stroke-width:1}</style>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="20" y="26" font-size="18" font-weight="700" fill="#212529">ticketgate vs PostGraphile vs the SQL limit</text>',
        f'<text x="20" y="46" class="note">{escape(str(p.get("tickets", "?")))} tickets / {escape(str(p.get("teams", "?")))} teams, '
        f'{escape(str(p.get("connections", "?")))} connections, {escape(str(p.get("rounds", "?")))} × {escape(str(p.get("duration", "?")))} s each, '
        f'{escape(str(m.get("cores", "?")))} cores, git {escape((m.get("git_revision") or "?")[:10])}, run {escape(meta.get("run", "?"))}</text>',
    ]
    # legend
    lx = 20
    for _, name, color in SERIES:
        out.append(f'<rect x="{lx}" y="58" width="12" height="12" fill="{color}"/>')
        out.append(f'<text x="{lx + 17}" y="68" class="axis">{escape(name)}</text>')
        lx += 30 + 7 * len(name)
    out.append(
        f'<text x="20" y="{height - 14}" class="note">Under each scenario: ticketgate\'s req/s as a multiple of '
        "PostGraphile's, and as a share of the SQL limit's (pgbench running the statements ticketgate issues) "
        "and of the hand-written SQL's.</text>"
    )
    _panel(out, 90, 110, pw, ph, "Throughput", "requests per second", groups, "rps", "higher is better")
    _panel(out, 90, 110 + ph + 110, pw, ph, "Latency p99", "milliseconds", groups, "p99_ms", "lower is better")
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        results = json.load(f)
    with open(sys.argv[2], "w") as f:
        f.write(render(results))
