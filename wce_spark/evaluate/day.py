"""Evaluating a model on one day's impressions from the samples Delta table (CONTRACT "evaluate").

The impressions of D are the samples rows at dt = D with label = 1 (one per impression in both
modes). They are read with Spark, joined to the generator's truth when ``<paths.truth>/dt=D`` exists,
and brought to pandas (a day, or a holdout slice of one, fits in the driver); scoring and metrics are
then the pure ``evaluate_frame``.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.evaluate.frame import EVALUATION_COLUMNS, evaluate_frame, truth_column
from wce_spark.evaluate.report import write_report
from wce_spark.evaluate.scoring import ServingModel
from wce_spark.lake.snapshot import samples_table
from wce_spark.spark.raw_logs import partition_path, path_exists


def _progress(message: str) -> None:
    print(f"evaluate: {message}", flush=True)


def _truth(spark: SparkSession, cfg: Config, day: dt.date) -> DataFrame | None:
    """impression_id and expected_w_<weight.fn> of D, one row per impression; None when absent."""
    path = partition_path(cfg["paths.truth"], day)
    column = truth_column(cfg["weight.fn"])
    if not path_exists(spark, path):
        return None
    truth = spark.read.parquet(path)
    if "impression_id" not in truth.columns or column not in truth.columns:
        return None
    return truth.select("impression_id", column).dropDuplicates(["impression_id"])


def load_impressions(spark: SparkSession, cfg: Config, day: dt.date, columns: Iterable[str],
                     where: Column | None = None) -> pd.DataFrame:
    """D's impressions (label = 1 rows at dt = D) with ``columns``, optionally narrowed by ``where``
    (e.g. a holdout slice), plus ``expected_w_<weight.fn>`` when the generator's truth exists."""
    path = samples_table(cfg)
    if not path_exists(spark, f"{path}/_delta_log"):
        raise UserError(f"no samples table at {path}; run build_samples first")
    samples = spark.read.format("delta").load(path)
    wanted = list(dict.fromkeys(columns))
    missing = [c for c in wanted if c not in samples.columns]
    if missing:
        raise UserError(f"samples table {path} lacks column(s) {', '.join(missing)}")
    rows = samples.where((F.col("dt") == F.lit(day)) & (F.col("label") == 1))
    if where is not None:
        rows = rows.where(where)
    rows = rows.select(*wanted)
    truth = _truth(spark, cfg, day)
    if truth is not None:
        rows = rows.join(truth, "impression_id", "left")
    return rows.toPandas()


def evaluate_day(cfg: Config, day: dt.date, model_dir: str, spark: SparkSession | None = None,
                 where: Column | None = None, report_dir: str | None = None, stem: str | None = None,
                 log: Callable[[str], None] = _progress) -> dict:
    """Score D's impressions (or the ``where`` slice of them) with the model at ``model_dir`` and write
    the report to ``<report_dir or paths.reports/evaluate>/<stem or D>.{json,md,png}``.

    Returns the metrics dict (as in the JSON) plus ``report``: the paths written. The model is loaded
    before Spark starts, so a bad model directory fails fast; ``spark`` defaults to a new session.
    """
    log(f"loading model {model_dir}")
    model = ServingModel(model_dir)
    if spark is None:
        from wce_spark.spark.session import get_spark

        log("starting Spark")
        spark = get_spark(cfg, app_name="wce-evaluate")
    log(f"reading the impressions of {day} from {samples_table(cfg)}")
    frame = load_impressions(spark, cfg, day, [*EVALUATION_COLUMNS, *model.inputs], where)
    if frame.empty:
        raise UserError(f"no impressions for {day} in {samples_table(cfg)}"
                        + (" matching the given filter" if where is not None else ""))
    log(f"scoring {len(frame):,} impressions through the serving signature")
    result = {"date": day.isoformat(), **evaluate_frame(frame, model, cfg)}
    truth = result["truth"]
    log(f"n={result['n']:,} MAE={result['mae']:.3f}s RMSE={result['rmse']:.3f}s "
        f"XAUC={result['xauc']:.4f} XGAUC={result['xgauc']:.4f}"
        + (f" corr(odds, {truth['column']})={truth['corr_odds']:.4f}" if truth else ""))
    out_dir = report_dir or f"{cfg['paths.reports'].rstrip('/')}/evaluate"
    paths = write_report(result, out_dir, stem or day.isoformat())
    log(f"report written: {paths.markdown} (numbers in {paths.json})")
    return {**result, "report": {"json": paths.json, "markdown": paths.markdown, "plots": paths.plots}}
