"""The evaluation's plots as PNG bytes, drawn from the metrics dict alone (so the JSON holds every
number a plot shows). Uses matplotlib's Figure with the Agg canvas directly: no pyplot, no display,
no global state between plots."""
from __future__ import annotations

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

FIGSIZE = (7.0, 4.5)
DPI = 110


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _seconds_log_scale(ax, axes: str, top: float, linear_below: float = 1.0) -> None:
    """0..top seconds on each of ``axes`` ("x", "y" or "xy"), logarithmic above ``linear_below`` so that
    0 s stays visible, ticked in plain seconds (they read better than powers of ten)."""
    ticks = [t for t in (0, 0.1, 1, 10, 60, 600, 3600, 36000) if t <= top and (t == 0 or t >= linear_below)]
    for name in axes:
        getattr(ax, f"set_{name}scale")("symlog", linthresh=linear_below)
        getattr(ax, f"set_{name}lim")(0, top)
        getattr(ax, f"set_{name}ticks")(ticks, [f"{t:g}" for t in ticks])
        getattr(ax, f"{name}axis").set_minor_locator(NullLocator())


def calibration_png(calibration: list[dict], title: str) -> bytes:
    """Mean predicted vs mean actual watch time per predicted decile, against the diagonal."""
    fig = Figure(figsize=FIGSIZE)
    ax = fig.add_subplot()
    predicted = [row["mean_predicted"] for row in calibration]
    actual = [row["mean_actual"] for row in calibration]
    top = max([1.0, *predicted, *actual]) * 1.3
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(predicted, actual, marker="o", color="tab:blue", label="deciles of predicted watch time")
    for row in calibration:
        ax.annotate(str(row["decile"]), (row["mean_predicted"], row["mean_actual"]),
                    textcoords="offset points", xytext=(5, -11), fontsize=7, color="tab:blue")
    _seconds_log_scale(ax, "xy", top)
    ax.set_xlabel("mean predicted watch time (s), log scale above 1 s")
    ax.set_ylabel("mean actual watch time (s)")
    ax.set_title(f"Calibration by predicted decile — {title}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _png(fig)


def distribution_png(histogram: dict, title: str) -> bytes:
    """Predicted and actual watch-time histograms on a log x axis (0 s kept, left of 0.1 s)."""
    fig = Figure(figsize=FIGSIZE)
    ax = fig.add_subplot()
    edges = histogram["edges_s"]
    for name, color in (("actual", "tab:orange"), ("predicted", "tab:blue")):
        counts = histogram[name]
        total = sum(counts) or 1
        ax.stairs([c / total for c in counts], edges, label=f"{name} (n={sum(counts):,})",
                  color=color, linewidth=1.6)
    _seconds_log_scale(ax, "x", edges[-1], linear_below=0.1)
    ax.set_xlabel("watch time (s), log scale above 0.1 s")
    ax.set_ylabel("share of impressions")
    ax.set_title(f"Watch-time distribution — {title}")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def xauc_by_duration_png(by_duration: list[dict], title: str) -> bytes:
    """XAUC and XGAUC per video-duration bucket, with each bucket's impression count."""
    fig = Figure(figsize=FIGSIZE)
    ax = fig.add_subplot()
    labels = [row["bucket"] for row in by_duration]
    positions = range(len(labels))
    width = 0.38
    for offset, key, color in ((-width / 2, "xauc", "tab:blue"), (width / 2, "xgauc", "tab:green")):
        values = [row[key] if _finite(row[key]) else 0.0 for row in by_duration]
        ax.bar([p + offset for p in positions], values, width, label=key.upper(), color=color)
    ax.axhline(0.5, linestyle="--", color="grey", label="random ordering (0.5)")
    ax.set_xticks(list(positions), [f"{label}\nn={row['n']:,}" for label, row in zip(labels, by_duration)])
    ax.set_ylim(0, 1.15)
    ax.set_yticks([0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0])
    ax.set_xlabel("video duration (impressions)")
    ax.set_ylabel("pairwise ordering accuracy")
    ax.set_title(f"XAUC by video duration — {title}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", ncol=3, fontsize=9)
    return _png(fig)
