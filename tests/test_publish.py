"""Publishing and the gate, on real tiny SavedModels scored through their serving signature (no Spark)."""
from __future__ import annotations

import datetime as dt
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.conftest import config_under
from wce_spark.evaluate.frame import evaluate_frame
from wce_spark.evaluate.scoring import ServingModel
from wce_spark.pipeline import publish as pub
from wce_spark.pipeline.gate import decide

DAY = dt.date(2026, 3, 4)


def save_model(path, slope: float, nan: bool = False) -> str:
    """A SavedModel with the contract's signature whose logit is slope * log1p(duration) (NaN if ``nan``)."""
    import tensorflow as tf

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="user_id"),
                                      tf.TensorSpec([None], tf.float64, name="video_duration_s")])
        def serve(self, user_id, video_duration_s):
            logit = slope * tf.math.log1p(tf.cast(video_duration_s, tf.float32)) - 1.0
            logit += 0.0 * tf.cast(tf.strings.length(user_id), tf.float32)
            if nan:
                logit = tf.where(video_duration_s > 100.0, tf.constant(float("nan")), logit)
            odds = tf.exp(logit)
            return {"p": tf.sigmoid(logit), "odds": odds, "watch_time_s": tf.maximum(tf.pow(2.0, odds) - 1.0, 0.0)}

    module = Tiny()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve.get_concrete_function()})
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {name: save_model(root / name, slope, nan) for name, slope, nan in
            (("good", 0.5, False), ("bad", -0.5, False), ("nan", 0.5, True))}


@pytest.fixture(scope="module")
def holdout():
    """Watch time grows with video duration, so the 'good' model orders it and the 'bad' one reverses it."""
    rng = np.random.default_rng(0)
    n = 400
    duration = rng.uniform(5, 300, n)
    return pd.DataFrame({"impression_id": [f"i{i}" for i in range(n)], "user_id": [f"u{u}" for u in rng.integers(0, 20, n)],
                         "video_duration_s": duration, "watch_time_s": duration * rng.uniform(0.2, 0.8, n)})


def _stage(models: dict, which: str, root) -> str:
    staging = root / "_candidates" / f"{DAY}-{which}"
    shutil.copytree(models[which], staging)
    return str(staging)


def test_publish_moves_then_points_and_reruns_get_fresh_names(models, tmp_path):
    root = tmp_path / "models"
    assert pub.read_latest(str(root)) is None
    first = pub.publish(_stage(models, "good", root), str(root), DAY)
    assert first == DAY.isoformat() and pub.read_latest(str(root)) == first
    assert (root / "latest").read_text() == f"{first}\n"
    second = pub.publish(_stage(models, "bad", root), str(root), DAY)
    assert second == f"{DAY}.1" and pub.read_latest(str(root)) == second
    # the earlier folder is untouched, the staging folders are gone
    assert ServingModel(str(root / first)).inputs.keys() == {"user_id", "video_duration_s"}
    assert os.listdir(root / "_candidates") == []


def test_crash_between_the_steps_leaves_latest_on_the_old_complete_model(models, tmp_path, monkeypatch, holdout):
    root = tmp_path / "models"
    old = pub.publish(_stage(models, "good", root), str(root), DAY - dt.timedelta(days=1))

    def killed(models_root: str, name: str) -> None:
        raise RuntimeError("killed after step 1")

    monkeypatch.setattr(pub, "point_latest", killed)
    with pytest.raises(RuntimeError, match="killed"):
        pub.publish(_stage(models, "bad", root), str(root), DAY)
    assert pub.read_latest(str(root)) == old
    served = ServingModel(pub.model_dir(str(root), old)).score(holdout)
    reference = ServingModel(models["good"]).score(holdout)
    np.testing.assert_array_equal(served["watch_time_s"].to_numpy(), reference["watch_time_s"].to_numpy())
    # the moved folder is complete (loads) but not served; the next publish of the date takes a fresh name
    assert len(ServingModel(str(root / DAY.isoformat())).score(holdout)) == len(holdout)
    monkeypatch.undo()
    assert pub.publish(_stage(models, "good", root), str(root), DAY) == f"{DAY}.1"


def test_publish_refuses_a_folder_without_a_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="no SavedModel"):
        pub.publish(str(tmp_path / "empty"), str(tmp_path / "models"), DAY)
    assert pub.read_latest(str(tmp_path / "models")) is None


def test_gate_on_real_models(models, holdout, tmp_path):
    cfg = config_under(tmp_path)
    good, bad, nan = (evaluate_frame(holdout, models[m], cfg) for m in ("good", "bad", "nan"))
    assert good["xauc"] > 0.7 and bad["xauc"] < 0.3
    assert decide(good, None, 0.01).publish  # first run: finite is enough
    assert decide(good, bad, 0.01).publish
    refused = decide(bad, good, 0.01)
    assert not refused.publish and "worse beyond tolerance" in refused.reason
    for published in (None, good):
        refused = decide(nan, published, 0.01)
        assert not refused.publish and "non-finite" in refused.reason and f"of {len(holdout):,}" in refused.reason


def test_gate_tolerance_edges():
    def result(xauc: float) -> dict:
        return {"n": 10, "nonfinite_predictions": 0, "mae": 1.0, "rmse": 1.0, "xauc": xauc,
                "mean_predicted": 1.0, "mean_odds": 1.0}

    assert decide(result(0.70), result(0.705), 0.01).publish  # within tolerance
    assert decide(result(0.70), result(0.70), 0.0).publish  # equal is not worse
    assert not decide(result(0.69), result(0.70), 0.005).publish
    assert not decide({**result(0.8), "mae": float("nan")}, result(0.7), 0.01).publish
