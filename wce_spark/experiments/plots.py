"""The experiments' own plots (bars per method, learning curves), drawn like wce_spark.evaluate.plots:
Figure + Agg canvas, PNG bytes, every number also in the JSON."""
from __future__ import annotations

import math
from typing import Sequence

from matplotlib.figure import Figure

from wce_spark.evaluate.plots import FIGSIZE, _png

COLORS = ("tab:blue", "tab:green", "tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:gray", "tab:olive")


def metric_bars_png(rows: Sequence[dict], keys: Sequence[str], title: str, lower: float | None = None) -> bytes:
    """One group of bars per method (``row['method']``), one bar per metric key."""
    fig = Figure(figsize=(max(FIGSIZE[0], 1.5 * len(rows)), FIGSIZE[1] + 0.5))
    ax = fig.add_subplot()
    width = 0.8 / len(keys)
    for k, key in enumerate(keys):
        values = [row[key] if row.get(key) is not None and math.isfinite(row[key]) else 0.0 for row in rows]
        bars = ax.bar([i + (k - (len(keys) - 1) / 2) * width for i in range(len(rows))], values, width,
                      label=key.upper(), color=COLORS[k % len(COLORS)])
        ax.bar_label(bars, fmt="%.3f" if lower is not None else "%.1f", fontsize=7, padding=2)
    ax.set_xticks(range(len(rows)), [row["method"].replace(" (", "\n(").replace(", ", ",\n") for row in rows],
                  fontsize=8)
    if lower is not None:
        ax.set_ylim(lower, max(row[k] for row in rows for k in keys if row.get(k) is not None) + 0.03)
        ax.axhline(0.5, linestyle="--", color="grey", linewidth=1)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def curves_png(series: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
               title: str) -> bytes:
    """Lines ``name -> (x, y)`` with markers, e.g. quality per epoch or per second of training."""
    fig = Figure(figsize=FIGSIZE)
    ax = fig.add_subplot()
    for i, (name, (x, y)) in enumerate(series.items()):
        ax.plot(list(x), list(y), marker="o", markersize=3, label=name, color=COLORS[i % len(COLORS)])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)
