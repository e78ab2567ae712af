"""KuaiRand results: WCE-DeepFM trained on the first days through the real pipeline, evaluated on the
last days against baselines on the very same test impressions.

Steps (``run``): adapt the CSV (wce_spark.adapters.kuairand) and build every day with build_samples;
train WCE-DeepFM with the production trainer on the training days (all their rows: the retrain holdout
is off, the test days are the holdout) and score the test days through the exported SavedModel's
serving signature; fit the baselines (global mean, mean by duration bucket, per-user mean, DeepFM
regression with MSE) on the training impressions; compute the same metrics for every method on the
same rows; write JSON, a Markdown table and plots. ``variants`` trains further WCE-DeepFMs with config
overrides (epochs, features, ...) on the same lake, to find out what WCE needs on this data.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from typing import Sequence

from wce_spark import storage
from wce_spark.config import Config, parse_override
from wce_spark.evaluate import plots
from wce_spark.evaluate.report import json_safe
from wce_spark.evaluate.scoring import ServingModel
from wce_spark.experiments import baselines
from wce_spark.experiments.common import (build_days, calibration_error, impressions, log, markdown_table,
                                          scores, split_days, train_wce)
from wce_spark.experiments.plots import metric_bars_png
from wce_spark.experiments.regression import predict_regression, train_regression
from wce_spark.storage import write_bytes_atomic, write_text_atomic
from wce_spark.train.features import FeatureSpec

TABLE = [("method", "method", ""), ("mae", "MAE (s)", ".2f"), ("rmse", "RMSE (s)", ".2f"),
         ("xauc", "XAUC", ".4f"), ("xgauc", "XGAUC", ".4f"), ("mean_predicted", "mean pred. (s)", ".2f"),
         ("calibration_error", "calib. err. (s)", ".2f"), ("train_seconds", "train (s)", ".0f")]


def adapted_days(spark, cfg: Config, inputs: Sequence[str], reuse: bool) -> list[dt.date]:
    """Adapt the CSV into ``paths.impressions`` / ``paths.playbacks`` (or, with ``reuse``, keep what an
    earlier run adapted, as its ``<paths.reports>/kuairand/adapt.json`` says); the impression days."""
    from wce_spark.adapters.kuairand import adapt

    marker = f"{cfg['paths.reports'].rstrip('/')}/kuairand/adapt.json"
    if reuse and storage.exists(marker):
        return [dt.date.fromisoformat(d) for d in json.loads(storage.read_text(marker))["impression_days"]]
    written = adapt(spark, inputs, cfg["paths.impressions"], cfg["paths.playbacks"],
                    float(cfg["watch_time.lookahead_hours"]) * 3600.0, log=log)
    write_text_atomic(marker, json.dumps(written.to_json(), indent=2))
    return [dt.date.fromisoformat(d) for d in written.impression_days]


def _row(name: str, result: dict, seconds: float | None = None, **extra) -> dict:
    return {"method": name, **{k: result[k] for k in ("n", "mae", "rmse", "xauc", "xgauc", "mean_predicted",
                                                       "mean_actual")},
            "calibration_error": calibration_error(result), "train_seconds": seconds, **extra}


def run(spark, cfg: Config, inputs: Sequence[str], out_dir: str, reuse_lake: bool = False,
        variants: dict[str, list[str]] | None = None, regression_epochs: int | None = None) -> dict:
    """The whole experiment; returns (and writes to ``out_dir``/kuairand_results.json) every number."""
    started = time.time()
    train_days, test_days = split_days(adapted_days(spark, cfg, inputs, reuse_lake))
    cfg = cfg.with_overrides({"train.days": len(train_days), "retrain.holdout_fraction": 0.0})
    log(f"train on {train_days[0]}..{train_days[-1]} ({len(train_days)} days), "
        f"test on {test_days[0]}..{test_days[-1]}")
    build_days(spark, cfg, train_days + test_days, reuse=reuse_lake)

    spec = FeatureSpec.from_config(cfg)
    wanted = ["impression_id", "user_id", "watch_time_s", "video_duration_s", *spec.serving_columns()]
    train = impressions(spark, cfg, train_days, wanted)
    test = impressions(spark, cfg, test_days, wanted)
    log(f"{len(train):,} training and {len(test):,} test impressions")
    rows, results = [], {}

    for name, predict in baselines.BASELINES.items():
        results[name] = scores(test, predict(train, test), cfg)
        rows.append(_row(name, results[name]))

    t0 = time.time()
    regression = train_regression(cfg, train, regression_epochs)
    name = "DeepFM regression (MSE)"
    results[name] = scores(test, predict_regression(regression, cfg, test), cfg)
    rows.append(_row(name, results[name], time.time() - t0))

    for name, overrides in {"WCE-DeepFM": [], **(variants or {})}.items():
        variant = cfg.with_overrides(dict(parse_override(o) for o in overrides))
        export_dir = f"{cfg['paths.models'].rstrip('/')}/experiment/{slug(name)}"
        summary = train_wce(spark, variant, train_days[-1], export_dir)
        predicted = ServingModel(export_dir).score(test)["watch_time_s"].to_numpy()
        results[name] = scores(test, predicted, variant)
        rows.append(_row(name, results[name], summary["train_seconds"], overrides=" ".join(overrides)))
        log(f"{name}: XAUC {results[name]['xauc']:.4f}, XGAUC {results[name]['xgauc']:.4f}, "
            f"MAE {results[name]['mae']:.2f}")

    document = {"inputs": list(inputs), "train_days": [d.isoformat() for d in train_days],
                "test_days": [d.isoformat() for d in test_days], "train_impressions": len(train),
                "test_impressions": len(test), "features": spec.to_json(),
                "weight_fn": cfg["weight.fn"], "samples_mode": cfg["samples.mode"],
                "table": rows, "results": results, "seconds": round(time.time() - started, 1)}
    _write(document, out_dir)
    return document


def _write(document: dict, out_dir: str) -> None:
    base = out_dir.rstrip("/")
    rows = document["table"]
    write_bytes_atomic(f"{base}/kuairand_metrics.png", metric_bars_png(
        rows, ("xauc", "xgauc"), "KuaiRand-1K random log, test days: ordering accuracy by method", lower=0.45))
    write_bytes_atomic(f"{base}/kuairand_error.png", metric_bars_png(
        rows, ("mae", "rmse"), "KuaiRand-1K random log, test days: error (s) by method"))
    for name in ("WCE-DeepFM", "DeepFM regression (MSE)"):
        result = document["results"][name]
        write_bytes_atomic(f"{base}/kuairand_calibration_{slug(name)}.png",
                           plots.calibration_png(result["calibration"], f"{name}, KuaiRand test days"))
    wce = document["results"]["WCE-DeepFM"]
    write_bytes_atomic(f"{base}/kuairand_xauc_by_duration_wce_deepfm.png",
                       plots.xauc_by_duration_png(wce["by_duration"], "WCE-DeepFM, KuaiRand test days"))
    write_text_atomic(f"{base}/kuairand_results.md", markdown_table(rows, TABLE) + "\n")
    write_text_atomic(f"{base}/kuairand_results.json", json.dumps(json_safe(document), indent=2) + "\n")


def print_table(document: dict) -> None:
    print(markdown_table(document["table"], TABLE))
    n = document["test_impressions"]
    print(f"\n{n:,} test impressions ({document['test_days'][0]}..{document['test_days'][-1]}), "
          f"{document['train_impressions']:,} training impressions; {document['seconds']} s")
