"""Writing an evaluation: ``<stem>.json`` (every number), three PNG plots and ``<stem>.md`` embedding
them, side by side in one folder (local or a store URL, through ``wce_spark.storage``). Each file is
written atomically, the JSON last, so a reader never sees a half-written report."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from wce_spark.evaluate import plots
from wce_spark.storage import write_bytes_atomic, write_text_atomic

PLOTS = ("calibration", "distribution", "xauc_by_duration")


@dataclass(frozen=True)
class ReportPaths:
    json: str
    markdown: str
    plots: dict[str, str]


def json_safe(value: Any) -> Any:
    """NaN and infinities become null: strict JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _xauc_note(result: dict) -> str:
    if result["xauc_sampled"]:
        return f"sampled: {result['xauc_pairs']:,} pairs, seed {result['xauc_seed']}"
    return f"exact over {result['xauc_pairs']:,} pairs"


def markdown(result: dict, plot_files: dict[str, str], json_file: str) -> str:
    """The human report: headline table, per-duration table, calibration table, the plots."""
    title = f"Evaluation of `{result['model_dir']}`" + (f" on {result['date']}" if result.get("date") else "")
    lines = [
        f"# {title}", "",
        f"{result['n']:,} impressions scored through the model's `serving_default` signature; "
        f"watch time in seconds, weight.fn `{result['weight_fn']}`. All numbers: [{json_file}]({json_file}).", "",
        "| metric | value |", "|---|---|",
        f"| impressions | {_number(result['n'])} |",
        f"| MAE (s) | {_number(result['mae'])} |",
        f"| RMSE (s) | {_number(result['rmse'])} |",
        f"| XAUC | {_number(result['xauc'], 4)} ({_xauc_note(result)}) |",
        f"| XGAUC | {_number(result['xgauc'], 4)} (over {result['xgauc_users']:,} users with a pair) |",
        f"| mean predicted (s) | {_number(result['mean_predicted'])} |",
        f"| mean actual (s) | {_number(result['mean_actual'])} |",
    ]
    if result.get("truth"):
        truth = result["truth"]
        lines.append(f"| corr(odds, {truth['column']}) | {_number(truth['corr_odds'], 4)} "
                     f"(over {truth['n']:,} impressions) |")
    if result["nonfinite_predictions"]:
        lines.append(f"| **non-finite predictions** | {result['nonfinite_predictions']:,} |")
    lines += [
        "", "XAUC: share of impression pairs with different actual watch time that the prediction orders "
        "the same way (equal predictions count 1/2). XGAUC: XAUC within each user, weighted by the user's "
        "impressions.", "",
        f"![Calibration by predicted decile]({plot_files['calibration']})", "",
        f"![Watch-time distributions]({plot_files['distribution']})", "",
        f"![XAUC by video duration]({plot_files['xauc_by_duration']})", "",
        "## By video duration", "",
        "| duration | impressions | MAE (s) | RMSE (s) | XAUC | XGAUC | mean predicted (s) | mean actual (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["by_duration"]:
        lines.append(f"| {row['bucket']} | {_number(row['n'])} | {_number(row['mae'])} | {_number(row['rmse'])} "
                     f"| {_number(row['xauc'], 4)} | {_number(row['xgauc'], 4)} "
                     f"| {_number(row['mean_predicted'])} | {_number(row['mean_actual'])} |")
    lines += ["", "## Calibration by predicted decile", "",
              "| decile | impressions | mean predicted (s) | mean actual (s) |", "|---:|---:|---:|---:|"]
    for row in result["calibration"]:
        lines.append(f"| {row['decile']} | {_number(row['n'])} | {_number(row['mean_predicted'])} "
                     f"| {_number(row['mean_actual'])} |")
    return "\n".join(lines) + "\n"


def write_report(result: dict, out_dir: str, stem: str) -> ReportPaths:
    """Write ``<out_dir>/<stem>.json``, ``<stem>.md`` and ``<stem>.<plot>.png``; return their paths."""
    base = out_dir.rstrip("/")
    pngs = {
        "calibration": plots.calibration_png(result["calibration"], stem),
        "distribution": plots.distribution_png(result["histogram"], stem),
        "xauc_by_duration": plots.xauc_by_duration_png(result["by_duration"], stem),
    }
    plot_files = {name: f"{stem}.{name}.png" for name in PLOTS}
    for name, data in pngs.items():
        write_bytes_atomic(f"{base}/{plot_files[name]}", data)
    json_file, md_file = f"{stem}.json", f"{stem}.md"
    write_text_atomic(f"{base}/{md_file}", markdown(result, plot_files, json_file))
    document = json_safe({**result, "plots": plot_files, "report_md": md_file})
    write_text_atomic(f"{base}/{json_file}", json.dumps(document, indent=2) + "\n")
    return ReportPaths(json=f"{base}/{json_file}", markdown=f"{base}/{md_file}",
                       plots={name: f"{base}/{f}" for name, f in plot_files.items()})
