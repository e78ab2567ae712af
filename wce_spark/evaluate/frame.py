"""Evaluate a model on a pandas frame of impressions: score through the serving signature, measure.

Pure (pandas in, dict out) and Spark-free, so the daily job can evaluate any slice (a holdout) and
two models on the very same rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.evaluate import metrics
from wce_spark.evaluate.scoring import ServingModel

# What the metrics read besides the model's own inputs.
EVALUATION_COLUMNS = ("impression_id", "user_id", "watch_time_s", "video_duration_s")


def truth_column(weight_fn: str) -> str:
    """The generator's E[w | x] for this weight function (CONTRACT: expected_w_<fn>)."""
    return f"expected_w_{weight_fn}"


def truth_agreement(odds: np.ndarray, expected_w: pd.Series) -> dict | None:
    """Pearson corr(odds, E[w | x]) over rows with a known truth and finite odds; None without any."""
    known = expected_w.notna().to_numpy() & np.isfinite(odds)
    if known.sum() < 2:
        return None
    truth = expected_w.to_numpy(dtype=np.float64)[known]
    if np.std(truth) == 0 or np.std(odds[known]) == 0:
        corr = float("nan")
    else:
        corr = float(np.corrcoef(odds[known], truth)[0, 1])
    return {"column": expected_w.name, "n": int(known.sum()), "corr_odds": corr}


def evaluate_frame(frame: pd.DataFrame, model: ServingModel | str, cfg: Config) -> dict:
    """Metrics (see ``metrics``) of ``model`` on ``frame``'s rows, one row per impression.

    ``frame`` holds EVALUATION_COLUMNS, the model's input columns and, optionally, the truth column
    ``expected_w_<weight.fn>`` (then ``truth`` reports corr(odds, expected_w)).
    """
    model = model if isinstance(model, ServingModel) else ServingModel(model)
    missing = [c for c in EVALUATION_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"rows to evaluate lack column(s): {', '.join(missing)}")
    if frame["watch_time_s"].isna().any():
        raise UserError("rows to evaluate have a null watch_time_s")
    scores = model.score(frame)
    predicted = scores["watch_time_s"].to_numpy()
    result = {
        "model_dir": model.model_dir,
        "weight_fn": cfg["weight.fn"],
        **metrics.all_metrics(frame["watch_time_s"].to_numpy(dtype=np.float64), predicted,
                              frame["user_id"].to_numpy(), frame["video_duration_s"].to_numpy(dtype=np.float64),
                              cfg["evaluate.xauc_max_pairs"], cfg["evaluate.seed"]),
        "xauc_seed": cfg["evaluate.seed"],
        "mean_p": float(scores["p"].mean()),
        "mean_odds": float(scores["odds"].mean()),
        "truth": None,
    }
    truth = truth_column(cfg["weight.fn"])
    if truth in frame.columns:
        result["truth"] = truth_agreement(scores["odds"].to_numpy(), frame[truth])
    return result
