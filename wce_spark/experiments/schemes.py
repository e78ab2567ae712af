"""Scheme A (samples.mode weighted) vs scheme B (duplicated): same data, model, seed and trainer.

For one dataset (generated logs, whose truth gives E[w | x] per impression, or KuaiRand) every run
trains the production trainer (train_model) on the same training days, each scheme from its own
samples table built from the same raw logs, and after every epoch (train_model's ``on_epoch_end``)
scores the same held-out impressions in memory: corr(odds, E[w | x]) when the truth is known, XAUC,
calibration of the decoded watch time, and the epoch's training seconds and rows/s (the scoring is not
timed). From the curves: quality at equal epochs, at equal training time, and the time each run needs
to reach a common quality.

Runs: A and B; B with the learning rate doubled; B with both copies of an impression in the same batch
(``train.shuffle_unit=impression``); and A under the other weight functions.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from wce_spark.config import Config, parse_override
from wce_spark.evaluate import metrics
from wce_spark.evaluate.report import json_safe
from wce_spark.experiments.common import (calibration_error, decode_logit, log, markdown_table, predict_logit,
                                          train_wce)
from wce_spark.experiments.plots import curves_png
from wce_spark.storage import write_bytes_atomic, write_text_atomic
from wce_spark.train.features import FeatureSpec

MODE = {"A": "weighted", "B": "duplicated"}


@dataclass(frozen=True)
class Run:
    name: str
    scheme: str  # "A" or "B"
    weight_fn: str = "log2"
    overrides: tuple[str, ...] = ()

    @property
    def mode(self) -> str:
        return MODE[self.scheme]


def standard_runs(learning_rate: float, weight_fns: Sequence[str] = ("log2", "log2_plus1", "linear")) -> list[Run]:
    runs = [Run("A", "A"), Run("B", "B"), Run("B, lr x2", "B", overrides=(f"train.learning_rate={2 * learning_rate}",)),
            Run("B, copies in one batch", "B", overrides=("train.shuffle_unit=impression",))]
    # The weight functions under scheme A only: A and B optimise the same objective (see the A-vs-B runs),
    # and each extra function costs a samples table per scheme.
    return runs + [Run(f"A, {fn}", "A", fn) for fn in weight_fns if fn != "log2"]


def lake_config(cfg: Config, root: str, mode: str, weight_fn: str) -> Config:
    """The conf of the samples table built in ``mode`` with ``weight_fn`` (its own lake and reports)."""
    name = f"{mode}_{weight_fn}"
    return cfg.with_overrides({"samples.mode": mode, "weight.fn": weight_fn,
                               "paths.lake": f"{root}/lake_{name}", "paths.reports": f"{root}/reports_{name}"})


@dataclass
class Curve:
    run: Run
    epochs: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.run.name, "scheme": self.run.scheme, "mode": self.run.mode,
                "weight_fn": self.run.weight_fn, "overrides": list(self.run.overrides),
                "epochs": self.epochs, **self.summary}


def epoch_scorer(curve: Curve, test: pd.DataFrame, cfg: Config):
    """The ``on_epoch_end`` hook: score ``test`` with the model as it is after the epoch."""
    columns = FeatureSpec.from_config(cfg).columns
    actual = test["watch_time_s"].to_numpy(dtype=np.float64)
    truth = f"expected_w_{cfg['weight.fn']}"
    elapsed = [0.0]

    def on_epoch_end(epoch: int, model, stats: dict) -> None:
        elapsed[0] += stats["seconds"]
        odds, watch = decode_logit(predict_logit(model, test, columns), cfg["weight.fn"])
        result = metrics.summary(actual, watch, test["user_id"].to_numpy(), cfg["evaluate.xauc_max_pairs"],
                                 cfg["evaluate.seed"])
        row = {"epoch": epoch, "seconds": stats["seconds"], "train_seconds": elapsed[0], "rows": stats["rows"],
               "rows_per_s": stats["rows"] / max(stats["seconds"], 1e-9), "loss": stats["loss"],
               "xauc": result["xauc"], "xgauc": result["xgauc"], "mae": result["mae"],
               "mean_predicted": result["mean_predicted"], "mean_actual": result["mean_actual"],
               "calibration_error": calibration_error({"calibration": metrics.calibration(actual, watch)})}
        if truth in test.columns:
            row["corr_odds_truth"] = float(np.corrcoef(odds, test[truth].to_numpy(dtype=np.float64))[0, 1])
        curve.epochs.append(row)
        log(f"{curve.run.name} epoch {epoch}: {stats['seconds']:.1f}s, {row['rows_per_s']:.0f} rows/s, "
            f"XAUC {row['xauc']:.4f}" + (f", corr {row['corr_odds_truth']:.4f}" if "corr_odds_truth" in row else ""))

    return on_epoch_end


def train_runs(spark, cfg: Config, root: str, runs: Sequence[Run], end: dt.date, test: pd.DataFrame) -> list[Curve]:
    curves = []
    for run in runs:
        run_cfg = lake_config(cfg, root, run.mode, run.weight_fn)
        if run.overrides:
            run_cfg = run_cfg.with_overrides(dict(parse_override(o) for o in run.overrides))
        curve = Curve(run)
        t0 = time.time()
        summary = train_wce(spark, run_cfg, end, f"{root}/models/{slug(run.name)}",
                            epoch_scorer(curve, test, run_cfg))
        curve.summary = {"wall_seconds": time.time() - t0, "train_seconds": summary["train_seconds"],
                         "rows_per_epoch": summary["rows_trained"] // max(summary["epochs"], 1),
                         "steps": summary["steps"], "rows_per_s": summary["rows_per_s"],
                         "learning_rate": run_cfg["train.learning_rate"]}
        curves.append(curve)
    return curves


def time_to_reach(epochs: list[dict], key: str, target: float) -> float:
    """Training seconds until ``key`` first reaches ``target`` (linear between epochs; from 0 s at the
    first epoch's start); NaN if it never does."""
    t_prev, q_prev = 0.0, None
    for row in epochs:
        q = row[key]
        if q >= target:
            if q_prev is None or q_prev >= target:
                return row["train_seconds"] if q_prev is None else t_prev
            return t_prev + (row["train_seconds"] - t_prev) * (target - q_prev) / (q - q_prev)
        t_prev, q_prev = row["train_seconds"], q
    return math.nan


def quality_at(epochs: list[dict], key: str, seconds: float) -> float:
    """``key`` at ``seconds`` of training (linear between epochs; the last epoch's value after it)."""
    for prev, row in zip([None, *epochs[:-1]], epochs):
        if row["train_seconds"] >= seconds:
            if prev is None:
                return row[key]
            frac = (seconds - prev["train_seconds"]) / (row["train_seconds"] - prev["train_seconds"])
            return prev[key] + frac * (row[key] - prev[key])
    return epochs[-1][key]


def compare(curves: list[Curve], key: str) -> dict:
    """Scheme A vs B (the runs named 'A' and 'B'): per-epoch time ratio, quality at equal epochs, at A's
    training time, and the time each needs for the quality both reach."""
    by_name = {c.run.name: c for c in curves}
    a, b = by_name["A"].epochs, by_name["B"].epochs
    epoch_time = lambda rows: float(np.median([r["seconds"] for r in rows]))  # noqa: E731 - robust to a slow one
    target = min(max(r[key] for r in a), max(r[key] for r in b))
    others = {name: {"time_to_target_s": time_to_reach(c.epochs, key, target),
                     f"{key}_at_A_time": quality_at(c.epochs, key, a[-1]["train_seconds"])}
              for name, c in by_name.items()}
    return {"key": key, "median_epoch_seconds_A": epoch_time(a), "median_epoch_seconds_B": epoch_time(b),
            "epoch_speedup_A_over_B": epoch_time(b) / epoch_time(a),
            "rows_per_s_A": float(np.median([r["rows_per_s"] for r in a])),
            "rows_per_s_B": float(np.median([r["rows_per_s"] for r in b])),
            "target": target, "runs": others,
            "speedup_to_target_A_over_B": others["B"]["time_to_target_s"] / others["A"]["time_to_target_s"]}


def paired_runs(pairs: int) -> list[Run]:
    """A, B, A, B, ...: alternating, so that load drifting on a shared machine hits both schemes alike."""
    return [Run(f"{scheme} #{k + 1}", scheme) for k in range(pairs) for scheme in ("A", "B")]


def paired_timing(curves: list[Curve]) -> dict:
    """Per A/B pair, the median seconds of an epoch after the first (which includes tracing) and the
    ratio B / A; the median ratio over the pairs is the per-epoch speed-up of A."""
    def steady(c: Curve) -> list[dict]:
        return c.epochs[1:] or c.epochs

    pairs = []
    for a, b in zip(curves[0::2], curves[1::2]):
        a_s = float(np.median([r["seconds"] for r in steady(a)]))
        b_s = float(np.median([r["seconds"] for r in steady(b)]))
        pairs.append({"pair": a.run.name.split("#")[1], "epoch_seconds_A": a_s, "epoch_seconds_B": b_s,
                      "rows_per_s_A": float(np.median([r["rows_per_s"] for r in steady(a)])),
                      "rows_per_s_B": float(np.median([r["rows_per_s"] for r in steady(b)])),
                      "speedup_A_over_B": b_s / a_s})
    return {"pairs": pairs, "median_speedup_A_over_B": float(np.median([p["speedup_A_over_B"] for p in pairs]))}


CURVE_TABLE = [("name", "run", ""), ("epoch", "epoch", "d"), ("seconds", "epoch s", ".1f"),
               ("rows_per_s", "rows/s", ",.0f"), ("loss", "train loss", ".4f"), ("corr_odds_truth", "corr(odds, E[w|x])", ".4f"),
               ("xauc", "XAUC", ".4f"), ("mae", "MAE (s)", ".2f"), ("mean_predicted", "mean pred. (s)", ".2f"),
               ("calibration_error", "calib. err. (s)", ".2f")]


def write_results(curves: list[Curve], comparison: dict, out_dir: str, stem: str, title: str,
                  meta: dict) -> dict:
    document = {**meta, "comparison": comparison, "runs": [c.to_json() for c in curves]}
    base = out_dir.rstrip("/")
    key = comparison["key"]
    label = "corr(odds, E[w | x])" if key == "corr_odds_truth" else key.upper()
    main = [c for c in curves if c.run.weight_fn == "log2"]
    for x, xlabel in (("epoch", "epoch"), ("train_seconds", "training seconds (scoring excluded)")):
        write_bytes_atomic(f"{base}/{stem}_{key}_by_{x}.png", curves_png(
            {c.run.name: ([r[x] for r in c.epochs], [r[key] for r in c.epochs]) for c in main},
            xlabel, label, f"{title}: {label} by {xlabel.split(' (')[0]}"))
    fns = [c for c in curves if c.run.scheme == "A" and not c.run.overrides]
    if len({c.run.weight_fn for c in fns}) > 1:
        for key_, label_ in (("xauc", "XAUC"), ("calibration_error", "calibration error (s)")):
            write_bytes_atomic(f"{base}/{stem}_weight_fns_{key_}.png", curves_png(
                {f"A, {c.run.weight_fn}": ([r["epoch"] for r in c.epochs], [r[key_] for r in c.epochs]) for c in fns},
                "epoch", label_, f"{title}: weight functions (scheme A), {label_} by epoch"))
    rows = [{"name": c.run.name, **r} for c in curves for r in c.epochs]
    final = [{"name": c.run.name, **c.epochs[-1], **c.summary} for c in curves]
    summary = [{"name": c.run.name, "median_epoch_s": float(np.median([r["seconds"] for r in c.epochs])),
                "rows_per_epoch": c.summary["rows_per_epoch"], "steps": c.summary["steps"],
                "final": c.epochs[-1][key], "best": max(r[key] for r in c.epochs),
                **comparison["runs"][c.run.name]} for c in curves]
    text = [f"# {title}: scheme A vs B", "",
            f"Quality: {label}. Target: {comparison['target']:.4f} (the best value both A and B reach). "
            f"A is {comparison['epoch_speedup_A_over_B']:.2f}x faster per epoch (median epoch "
            f"{comparison['median_epoch_seconds_A']:.1f} s vs {comparison['median_epoch_seconds_B']:.1f} s) and "
            f"{comparison['speedup_to_target_A_over_B']:.2f}x faster to the target.", "",
            markdown_table(summary, [("name", "run", ""), ("rows_per_epoch", "rows/epoch", ",d"),
                                     ("steps", "steps", ",d"), ("median_epoch_s", "median epoch s", ".1f"),
                                     ("final", f"final {label}", ".4f"), ("best", f"best {label}", ".4f"),
                                     (f"{key}_at_A_time", f"{label} at A's total time", ".4f"),
                                     ("time_to_target_s", "s to target", ".1f")]),
            "", "## final epoch", "", markdown_table(final, CURVE_TABLE + [("wall_seconds", "wall s", ".0f")]),
            "", "## every epoch", "", markdown_table(rows, CURVE_TABLE), ""]
    write_text_atomic(f"{base}/{stem}.md", "\n".join(text))
    write_text_atomic(f"{base}/{stem}.json", json.dumps(json_safe(document), indent=2) + "\n")
    return document


# ---------------------------------------------------------------------------------------------- datasets
def _generated_before(cfg: Config, days: Sequence[dt.date], impressions_per_day: int) -> bool:
    """True when ``paths.reports``' generator manifest already holds these days at this size (a rerun
    of the comparison reuses the logs and the days built from them)."""
    from wce_spark import storage
    from wce_spark.synth.generator import manifest_path

    path = manifest_path(cfg)
    if not storage.exists(path):
        return False
    entries = json.loads(storage.read_text(path)).get("days", {})
    return all(entries.get(d.isoformat(), {}).get("complete") and
               entries[d.isoformat()]["generated"]["impressions_per_day"] == impressions_per_day for d in days)


def synthetic(spark, cfg: Config, root: str, runs: Sequence[Run], out_dir: str, train_days: int,
              impressions_per_day: int, timing_pairs: int = 0) -> dict:
    """Generated logs (clean): ``train_days`` days to train on, the next day to score, with its truth.
    With ``timing_pairs`` the runs are that many alternating A/B pairs instead (for the per-epoch timing)."""
    if timing_pairs:
        runs = paired_runs(timing_pairs)
    from wce_spark.spark.raw_logs import partition_path
    from wce_spark.synth.generator import generate_logs
    from wce_spark.experiments.common import build_days, impressions

    start = dt.date.fromisoformat(cfg["synth.start_date"])
    days = [start + dt.timedelta(days=i) for i in range(train_days + 1)]
    cfg = cfg.with_overrides({"paths.impressions": f"{root}/raw/impressions",
                              "paths.playbacks": f"{root}/raw/playbacks", "paths.truth": f"{root}/raw/truth",
                              "paths.models": f"{root}/models", "paths.reports": f"{root}/reports",
                              "train.days": train_days, "retrain.holdout_fraction": 0.0})
    t0 = time.time()
    if not _generated_before(cfg, days, impressions_per_day):
        generate_logs(spark, cfg, start, len(days), dirty=False, impressions_per_day=impressions_per_day)
    for mode, fn in sorted({(r.mode, r.weight_fn) for r in runs}):
        lake = lake_config(cfg, root, mode, fn)
        build_days(spark, lake, days if (mode, fn) == ("duplicated", "log2") else days[:-1], reuse=True)
    log(f"generated and built in {time.time() - t0:.0f}s")
    first = lake_config(cfg, root, "duplicated", "log2")
    spec = FeatureSpec.from_config(cfg)
    test = impressions(spark, first, days[-1:], ["impression_id", "user_id", "watch_time_s", *spec.serving_columns()])
    truth = (spark.read.parquet(partition_path(cfg["paths.truth"], days[-1]))
             .select("impression_id", "expected_w_log2", "expected_w_log2_plus1", "expected_w_linear").toPandas())
    test = test.drop(columns=[c for c in test.columns if c.startswith("expected_w_")]).merge(truth, on="impression_id")
    curves = train_runs(spark, cfg, root, runs, days[-2], test)
    meta = {"dataset": "generated", "train_days": [d.isoformat() for d in days[:-1]], "test_day": days[-1].isoformat(),
            "impressions_per_day": impressions_per_day, "test_impressions": len(test),
            "features": spec.to_json(), "train": {k: cfg[f"train.{k}"] for k in ("epochs", "batch_size",
                                                                                  "learning_rate", "shuffle_buffer", "seed")}}
    if timing_pairs:
        document = {**meta, "timing": paired_timing(curves), "runs": [c.to_json() for c in curves]}
        table = markdown_table(document["timing"]["pairs"], [
            ("pair", "pair", ""), ("epoch_seconds_A", "A epoch s", ".2f"), ("epoch_seconds_B", "B epoch s", ".2f"),
            ("rows_per_s_A", "A rows/s", ",.0f"), ("rows_per_s_B", "B rows/s", ",.0f"),
            ("speedup_A_over_B", "B / A epoch time", ".2f")])
        write_text_atomic(f"{out_dir.rstrip('/')}/schemes_generated_timing.md",
                          f"Median epoch-time ratio B / A over the pairs: "
                          f"{document['timing']['median_speedup_A_over_B']:.2f}\n\n{table}\n")
        write_text_atomic(f"{out_dir.rstrip('/')}/schemes_generated_timing.json",
                          json.dumps(json_safe(document), indent=2) + "\n")
        return {**document, "comparison": document["timing"]}
    return write_results(curves, compare(curves, "corr_odds_truth"), out_dir, "schemes_generated", "generated logs",
                         meta)


def kuairand(spark, cfg: Config, root: str, runs: Sequence[Run], out_dir: str, inputs: Sequence[str]) -> dict:
    """KuaiRand: the first 14 days to train on, the last 3 to score (the truth is unknown: XAUC is the quality).
    Raw logs and days already adapted and built under ``root`` (e.g. by scripts/kuairand_experiment.py
    --root) are reused."""
    from wce_spark.experiments.common import build_days, impressions, split_days
    from wce_spark.experiments.kuairand import adapted_days

    cfg = cfg.with_overrides({"paths.impressions": f"{root}/raw/impressions",
                              "paths.playbacks": f"{root}/raw/playbacks", "paths.models": f"{root}/models",
                              "paths.reports": f"{root}/reports", "paths.truth": f"{root}/truth",
                              "retrain.holdout_fraction": 0.0})
    days = adapted_days(spark, lake_config(cfg, root, "duplicated", "log2"), inputs, reuse=True)
    train_days, test_days = split_days(days)
    cfg = cfg.with_overrides({"train.days": len(train_days)})
    for mode, fn in sorted({(r.mode, r.weight_fn) for r in runs}):
        build_days(spark, lake_config(cfg, root, mode, fn), days if (mode, fn) == ("duplicated", "log2") else train_days,
                   reuse=True)
    spec = FeatureSpec.from_config(cfg)
    test = impressions(spark, lake_config(cfg, root, "duplicated", "log2"), test_days,
                       ["impression_id", "user_id", "watch_time_s", *spec.serving_columns()])
    curves = train_runs(spark, cfg, root, runs, train_days[-1], test)
    comparison = compare(curves, "xauc")
    meta = {"dataset": "KuaiRand-1K random log", "train_days": [d.isoformat() for d in train_days],
            "test_days": [d.isoformat() for d in test_days], "test_impressions": len(test),
            "features": spec.to_json(), "train": {k: cfg[f"train.{k}"] for k in ("epochs", "batch_size",
                                                                                  "learning_rate", "shuffle_buffer", "seed")}}
    return write_results(curves, comparison, out_dir, "schemes_kuairand", "KuaiRand", meta)
