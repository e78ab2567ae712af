"""What the experiments share: the lake of a run (build every day), training a WCE-DeepFM through the
real trainer, in-memory scoring of a Keras DeepFM (for per-epoch learning curves), result tables."""
from __future__ import annotations

import datetime as dt
import math
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.evaluate import metrics
from wce_spark.lake.snapshot import samples_table

PREDICT_BATCH = 8192
TEST_DAYS = 3


def log(message: str) -> None:
    print(f"experiment: {message}", flush=True)


def split_days(days: Sequence[dt.date], test_days: int = TEST_DAYS) -> tuple[list[dt.date], list[dt.date]]:
    """(training days, test days): the last ``test_days`` days are the test."""
    days = sorted(days)
    if len(days) <= test_days:
        raise UserError(f"need more than {test_days} days to split, the log has {len(days)}")
    return days[:-test_days], days[-test_days:]


def slug(name: str) -> str:
    """A run's name as a file-name part."""
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def build_days(spark, cfg: Config, days: Iterable[dt.date], reuse: bool = False) -> None:
    """build_samples for each day (the normal job's function); with ``reuse`` a day whose run report
    exists is left as it is."""
    from wce_spark import storage
    from wce_spark.spark.build_samples import build_samples

    for day in days:
        report = f"{cfg['paths.reports'].rstrip('/')}/build_samples/{day.isoformat()}.json"
        if reuse and storage.exists(report):
            continue
        built = build_samples(spark, cfg, day)
        log(f"built {day} into {samples_table(cfg)}: {built['impressions']['accepted']} impressions, "
            f"quarantined {built['impressions']['quarantined']}")


def impressions(spark, cfg: Config, days: Sequence[dt.date], columns: Sequence[str]) -> pd.DataFrame:
    """The label = 1 rows (one per impression, both modes) of ``days`` with ``columns`` (+ the generator's
    truth for weight.fn when ``paths.truth`` has it), in a stable order."""
    from wce_spark.evaluate.day import load_impressions

    frames = [load_impressions(spark, cfg, day, columns).assign(dt=day.isoformat()) for day in days]
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise UserError(f"no impressions for {days[0]}..{days[-1]} in {samples_table(cfg)}")
    return frame.sort_values("impression_id", kind="stable").reset_index(drop=True)


def train_wce(spark, cfg: Config, end: dt.date, export_dir: str,
              on_epoch_end: Callable | None = None) -> dict:
    """The production trainer (train_model) on the train.days window ending at ``end``."""
    from wce_spark.lake.snapshot import resolve_snapshot, window
    from wce_spark.train.loop import train_model

    files = resolve_snapshot(spark, samples_table(cfg), *window(end, cfg["train.days"]))
    return train_model(cfg, end, files, export_dir=export_dir, on_epoch_end=on_epoch_end)


def model_inputs(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Feature columns as NumPy arrays the DeepFM layers take (ids as text or ints, numbers as floats)."""
    out = {}
    for name in columns:
        values = frame[name]
        if values.dtype == object:
            out[name] = values.fillna("").astype(str).to_numpy(dtype=object)
        else:
            out[name] = values.to_numpy()
    return out


def predict_logit(model, frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The Keras model's logit per row of ``frame`` (inference mode), in batches."""
    import tensorflow as tf

    inputs = model_inputs(frame, columns)
    parts = []
    for start in range(0, len(frame), PREDICT_BATCH):
        batch = {name: tf.constant(values[start:start + PREDICT_BATCH]) for name, values in inputs.items()}
        parts.append(model(batch, training=False).numpy().astype(np.float64))
    return np.concatenate(parts) if parts else np.zeros(0)


def decode_logit(logit: np.ndarray, weight_fn: str) -> tuple[np.ndarray, np.ndarray]:
    """(odds, watch_time_s) as the exported model decodes them (wce_spark.train.decode)."""
    from wce_spark.train.decode import decode

    out = decode(logit, weight_fn)
    return out["odds"].numpy().astype(np.float64), out["watch_time_s"].numpy().astype(np.float64)


def scores(frame: pd.DataFrame, predicted: np.ndarray, cfg: Config) -> dict:
    """MAE, RMSE, XAUC, XGAUC, means, by duration bucket and calibration (wce_spark.evaluate.metrics)."""
    return metrics.all_metrics(frame["watch_time_s"].to_numpy(dtype=np.float64), predicted,
                               frame["user_id"].to_numpy(), frame["video_duration_s"].to_numpy(dtype=np.float64),
                               cfg["evaluate.xauc_max_pairs"], cfg["evaluate.seed"])


def calibration_error(result: dict) -> float:
    """Mean |mean predicted - mean actual| over the predicted deciles, in seconds."""
    rows = result["calibration"]
    return float(np.mean([abs(r["mean_predicted"] - r["mean_actual"]) for r in rows])) if rows else math.nan


def markdown_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """``columns``: (key, header, format) -> a Markdown table (missing or non-finite values as '–')."""
    def cell(value, fmt: str) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "–"
        return format(value, fmt) if fmt else str(value)

    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" if not fmt else "---:" for _, _, fmt in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(k), fmt) for k, _, fmt in columns) + " |")
    return "\n".join(lines)
