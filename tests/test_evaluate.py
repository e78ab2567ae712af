"""The evaluate room end to end: a real tiny SavedModel built here, scored through its serving signature;
reports and plots on disk; evaluate_day over a real Delta samples table; the job's CLI."""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import config_under

from wce_spark.errors import UserError
from wce_spark.spark.delta_io import PROP_MODE, PROP_WEIGHT_FN
from wce_spark.evaluate import metrics
from wce_spark.evaluate.frame import evaluate_frame
from wce_spark.evaluate.report import write_report
from wce_spark.evaluate.scoring import ServingModel

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 3, 4)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_logit(video_duration_s, hour):
    """The tiny model's logit in NumPy, to check what comes out of the SavedModel."""
    return 0.35 * np.log1p(video_duration_s) - 0.2 + 0.01 * hour


def save_tiny_model(path: Path, nan_hour: int | None = None) -> str:
    """A real SavedModel with the contract's serving signature: raw columns in, p/odds/watch_time_s out
    (log2 decoding). With ``nan_hour`` it emits NaN for impressions of that hour, like a diverged model."""
    import tensorflow as tf

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="user_id"),
                                      tf.TensorSpec([None], tf.float32, name="video_duration_s"),
                                      tf.TensorSpec([None], tf.int64, name="hour")])
        def serve(self, user_id, video_duration_s, hour):
            hour_f = tf.cast(hour, tf.float32)
            # user_id enters with weight 0: it must still arrive as a string tensor of the right length
            logit = (0.35 * tf.math.log1p(video_duration_s) - 0.2 + 0.01 * hour_f
                     + 0.0 * tf.cast(tf.strings.length(user_id), tf.float32))
            if nan_hour is not None:
                logit = tf.where(tf.equal(hour, nan_hour), tf.constant(float("nan")), logit)
            odds = tf.exp(logit)
            return {"p": tf.sigmoid(logit), "odds": odds,
                    "watch_time_s": tf.maximum(tf.pow(2.0, odds) - 1.0, 0.0)}

    module = Tiny()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve.get_concrete_function()})
    return str(path)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny_nan", nan_hour=13)


def impressions(n: int, seed: int = 0) -> pd.DataFrame:
    """Impressions as the samples table holds them (hour int32, durations double), with watch times
    that follow the tiny model's odds plus noise, and the generator's truth column."""
    rng = np.random.default_rng(seed)
    duration = rng.choice([3.0, 9.0, 20.0, 45.0, 120.0, 400.0], n)
    hour = rng.integers(0, 24, n).astype(np.int32)
    expected_w = np.exp(tiny_logit(duration, hour))
    watch = np.round(np.maximum(np.exp2(expected_w + rng.normal(0, 0.4, n)) - 1.0, 0.0), 1)
    return pd.DataFrame({
        "impression_id": [f"i{k}" for k in range(n)],
        "user_id": rng.choice([f"u{k}" for k in range(12)], n),
        "video_id": rng.choice([f"v{k}" for k in range(30)], n),
        "author_id": rng.choice([f"a{k}" for k in range(5)], n),
        "video_duration_s": duration,
        "hour": hour,
        "watch_time_s": watch,
        "expected_w_log2": expected_w,
    })


def test_scores_come_through_the_serving_signature(tiny_model):
    model = ServingModel(tiny_model)
    assert model.inputs.keys() == {"user_id", "video_duration_s", "hour"}
    frame = impressions(300)
    scores = model.score(frame, batch_rows=64)  # several batches, the last one partial
    odds = np.exp(tiny_logit(frame["video_duration_s"].to_numpy(), frame["hour"].to_numpy()))
    assert len(scores) == 300
    np.testing.assert_allclose(scores["odds"], odds, rtol=1e-5)
    np.testing.assert_allclose(scores["p"], odds / (1 + odds), rtol=1e-5)
    np.testing.assert_allclose(scores["watch_time_s"], np.exp2(odds) - 1, rtol=1e-4)


def test_evaluate_frame_measures_the_models_predictions(tiny_model, make_cfg):
    cfg = make_cfg()
    frame = impressions(400)
    result = evaluate_frame(frame, tiny_model, cfg)
    odds = np.exp(tiny_logit(frame["video_duration_s"].to_numpy(), frame["hour"].to_numpy()))
    want = metrics.all_metrics(frame["watch_time_s"].to_numpy(), np.exp2(odds) - 1,
                               frame["user_id"].to_numpy(), frame["video_duration_s"].to_numpy(), 10**12, 0)
    assert result["n"] == 400 and result["model_dir"] == tiny_model
    for key in ("mae", "rmse", "mean_predicted"):
        assert result[key] == pytest.approx(want[key], rel=1e-4)
    assert result["xauc"] == pytest.approx(want["xauc"], abs=0.01)  # float32 scores may break a tie
    assert result["xauc"] > 0.6 and result["xgauc"] > 0.6  # the model does order watch time
    assert result["truth"]["column"] == "expected_w_log2"
    assert result["truth"]["n"] == 400
    assert result["truth"]["corr_odds"] == pytest.approx(1.0, abs=1e-5)  # its odds are the truth


def test_nan_outputs_are_counted_and_poison_the_metrics(nan_model, make_cfg, tmp_path):
    frame = impressions(200)
    result = evaluate_frame(frame, nan_model, make_cfg())
    assert result["nonfinite_predictions"] == int((frame["hour"] == 13).sum()) > 0
    assert math.isnan(result["mae"]) and math.isnan(result["xauc"])
    paths = write_report(result, str(tmp_path / "nan"), "nan")
    on_disk = json.loads(Path(paths.json).read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert on_disk["mae"] is None and on_disk["nonfinite_predictions"] == result["nonfinite_predictions"]


def test_bad_models_and_rows_are_one_line_user_errors(tiny_model, make_cfg, tmp_path):
    with pytest.raises(UserError, match="no SavedModel"):
        ServingModel(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="hour"):
        evaluate_frame(impressions(10).drop(columns=["hour"]), tiny_model, make_cfg())
    with_null = impressions(10)
    with_null["video_duration_s"] = with_null["video_duration_s"].astype(object)
    with_null.loc[3, "video_duration_s"] = None
    with pytest.raises(UserError, match="video_duration_s has 1 null"):
        ServingModel(tiny_model).score(with_null)


def test_report_writes_json_markdown_and_non_empty_pngs(tiny_model, make_cfg, tmp_path):
    result = evaluate_frame(impressions(500), tiny_model, make_cfg())
    paths = write_report(result, str(tmp_path / "reports"), "2026-03-04")
    document = json.loads(Path(paths.json).read_text())
    for key in ("n", "mae", "rmse", "xauc", "xgauc", "mean_predicted", "mean_actual", "model_dir"):
        assert key in document
    assert document["n"] == 500 and len(document["by_duration"]) == 6
    assert set(paths.plots) == {"calibration", "distribution", "xauc_by_duration"}
    for png in paths.plots.values():
        data = Path(png).read_bytes()
        assert data[:8] == PNG_MAGIC
        assert len(data) > 10_000  # a drawn chart, not an empty canvas
    md = Path(paths.markdown).read_text()
    assert "| XAUC |" in md and "## By video duration" in md
    for png in paths.plots.values():
        assert f"]({Path(png).name})" in md  # embedded by a link relative to the report
    assert sorted(os.listdir(tmp_path / "reports")) == sorted(
        [Path(p).name for p in (paths.json, paths.markdown, *paths.plots.values())])  # no temp files left


def write_samples(spark, cfg, days: dict[dt.date, pd.DataFrame]) -> None:
    """A duplicated-mode samples table: per impression a label-1 row (weight w) and a label-0 row (weight 1)."""
    parts = []
    for day, frame in days.items():
        positives = frame.drop(columns=["expected_w_log2"]).assign(label=1, weight=np.log2(frame["watch_time_s"] + 1))
        parts += [positives.assign(dt=day), positives.assign(label=0, weight=1.0, dt=day)]
    path = f"{cfg['paths.lake']}/samples"
    spark.createDataFrame(pd.concat(parts)).write.format("delta").partitionBy("dt").save(path)
    # What build_samples records and the trainer checks.
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES "
              f"('{PROP_MODE}' = 'duplicated', '{PROP_WEIGHT_FN}' = 'log2')")


@pytest.fixture(scope="module")
def day_setup(spark, tmp_path_factory):
    """A samples table holding D and D-1 (written once for this module), and the truth of D."""
    cfg = config_under(tmp_path_factory.mktemp("day"))
    frame = impressions(240, seed=1)
    write_samples(spark, cfg, {DAY: frame, DAY - dt.timedelta(days=1): impressions(1500, seed=2)})
    truth = frame[["impression_id", "expected_w_log2"]].assign(
        expected_w_log2_plus1=frame["expected_w_log2"] + 1, expected_w_linear=0.0)
    truth_dir = Path(cfg["paths.truth"]) / f"dt={DAY}"
    truth_dir.mkdir(parents=True)
    truth.to_parquet(truth_dir / "part-0.parquet")
    return cfg, frame


def test_evaluate_day_reads_the_days_impressions_and_writes_the_report(spark, day_setup, tiny_model):
    from pyspark.sql import functions as F

    from wce_spark.evaluate.day import evaluate_day

    cfg, frame = day_setup
    result = evaluate_day(cfg, DAY, tiny_model, spark=spark)
    assert result["n"] == 240  # label-1 rows of D only
    assert result["date"] == "2026-03-04"
    assert result["mean_actual"] == pytest.approx(frame["watch_time_s"].mean())
    assert result["truth"]["corr_odds"] == pytest.approx(1.0, abs=1e-5)
    assert result["report"]["json"] == f"{cfg['paths.reports']}/evaluate/2026-03-04.json"
    assert json.loads(Path(result["report"]["json"]).read_text())["n"] == 240

    holdout = evaluate_day(cfg, DAY, tiny_model, spark=spark, where=F.col("user_id").isin("u1", "u2"),
                           report_dir=str(Path(cfg["paths.reports"]) / "holdout"), stem="slice")
    assert holdout["n"] == int(frame["user_id"].isin(["u1", "u2"]).sum())
    assert Path(holdout["report"]["markdown"]).name == "slice.md"

    with pytest.raises(UserError, match="no impressions for 2026-03-09"):
        evaluate_day(cfg, dt.date(2026, 3, 9), tiny_model, spark=spark)


def test_a_model_trained_by_the_trainer_is_evaluated_through_its_export(spark, day_setup):
    """The real trainer (Delta snapshot -> Petastorm -> DeepFM -> SavedModel) on D-1, evaluated on D."""
    from wce_spark.lake.snapshot import resolve_snapshot
    from wce_spark.train.loop import samples_table, train_model

    from wce_spark.evaluate.day import evaluate_day

    cfg, frame = day_setup
    cfg = cfg.with_overrides({"train.days": 1, "train.epochs": 8, "train.batch_size": 256,
                              "train.learning_rate": 0.01, "model.embedding_dim": 4, "model.hidden_units": [16]})
    before = DAY - dt.timedelta(days=1)
    trained = train_model(cfg, before, resolve_snapshot(spark, samples_table(cfg), before, before),
                          deterministic=True)
    result = evaluate_day(cfg, DAY, trained["model_dir"], spark=spark,
                          report_dir=str(Path(cfg["paths.reports"]) / "trained"))
    assert result["n"] == 240 and result["nonfinite_predictions"] == 0
    # Watch time in these impressions is driven by video duration, which the model sees; reached:
    # XAUC 0.907, corr(odds, E[w | x]) 0.986.
    assert result["xauc"] > 0.8
    assert result["truth"]["corr_odds"] > 0.9
    assert result["mean_predicted"] == pytest.approx(frame["watch_time_s"].mean(), rel=0.5)


def run_job(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "jobs" / "evaluate.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_job_reports_a_missing_model_in_one_line(tmp_path):
    conf = tmp_path / "conf.yaml"
    conf.write_text(f"paths: {{reports: {tmp_path / 'reports'}, lake: {tmp_path / 'lake'}}}\n")
    done = run_job("--conf", str(conf), "--date", "2026-03-04", "--model", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"evaluate: error: no SavedModel at {tmp_path / 'missing'} (missing saved_model.pb)")
    assert not (tmp_path / "reports").exists()


def test_job_runs_and_prints_where_the_report_is(day_setup, tiny_model, tmp_path):
    cfg, _ = day_setup
    conf = tmp_path / "job.yaml"
    conf.write_text(json.dumps({"paths": {"lake": cfg["paths.lake"], "truth": cfg["paths.truth"],
                                          "reports": str(tmp_path / "reports")},
                                "spark": {"shuffle_partitions": 2, "driver_memory": "1g"}}))
    done = run_job("--conf", str(conf), "--date", "2026-03-04", "--model", tiny_model)
    assert done.returncode == 0, done.stderr[-2000:]
    report = tmp_path / "reports" / "evaluate" / "2026-03-04.md"
    assert done.stdout.strip().splitlines()[-1] == f"evaluate: report at {report}"
    assert "evaluate: scoring 240 impressions through the serving signature" in done.stdout
    assert report.exists() and (tmp_path / "reports" / "evaluate" / "2026-03-04.json").exists()
