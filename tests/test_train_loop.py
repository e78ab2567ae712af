"""The trainer on a real samples Delta table: export layout, table/conf checks, NaN stop, resume, warm start."""
from __future__ import annotations

import datetime as dt
import glob
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, config_under
from wce_spark import weighting
from wce_spark.errors import UserError

D0, D1, D2 = dt.date(2026, 2, 20), dt.date(2026, 3, 1), dt.date(2026, 3, 2)
IMPRESSIONS_PER_DAY = 1000
SMALL = ["features.sparse=[{name: user_id, buckets: 97}, {name: video_id, buckets: 211}, "
         "{name: author_id, buckets: 31}, {name: hour, buckets: 24}]",
         "model.embedding_dim=4", "model.hidden_units=[16, 8]", "train.days=2", "train.epochs=2",
         "train.batch_size=256", "train.shuffle_buffer=1000", "train.learning_rate=0.01"]


def _impressions(day: dt.date, n: int, seed: int) -> pd.DataFrame:
    """E[watch time | video] varies 20-fold across videos; users and hours add noise only."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 60, n)
    duration = 10.0 + (video * 37) % 290
    share = 0.05 + 0.9 * ((video * 7919) % 100) / 100
    return pd.DataFrame({
        "dt": day, "impression_id": [f"{day}-{i}" for i in range(n)],
        "user_id": [f"u{u}" for u in rng.integers(0, 40, n)], "video_id": [f"v{v}" for v in video],
        "author_id": [f"a{v % 12}" for v in video], "video_duration_s": duration,
        "hour": rng.integers(0, 24, n).astype(np.int32),
        "watch_time_s": np.minimum(rng.exponential(duration * share), 3600.0)})


def _samples_frame(spark, frames: list[pd.DataFrame], mode: str, weight_fn: str):
    """The contract's samples rows, a positive and (duplicated) a negative side by side, as build_samples
    lays them out."""
    from pyspark.sql import functions as F

    from wce_spark.spark.columns import weight_col

    df = spark.createDataFrame(pd.concat(frames, ignore_index=True))
    copies = [F.struct(F.lit(1).alias("label"), weight_col(F.col("watch_time_s"), weight_fn).alias("weight"))]
    if mode == "duplicated":
        copies.append(F.struct(F.lit(0).alias("label"), F.lit(1.0).alias("weight")))
    return (df.withColumn("dt", F.col("dt").cast("date")).withColumn("hour", F.col("hour").cast("int"))
            .withColumn("_copy", F.explode(F.array(*copies)))
            .select("*", "_copy.label", "_copy.weight").drop("_copy"))


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """A duplicated/log2 samples table: days D1, D2 as above, and day D0 whose weights are NaN."""
    from wce_spark.spark.delta_io import PROP_MODE, PROP_WEIGHT_FN, ensure_table

    root = tmp_path_factory.mktemp("train")
    broken = _impressions(D0, 200, seed=0).assign(watch_time_s=np.nan)
    df = _samples_frame(spark, [broken, _impressions(D1, IMPRESSIONS_PER_DAY, 1),
                                _impressions(D2, IMPRESSIONS_PER_DAY, 2)], "duplicated", "log2")
    table = str(root / "lake" / "samples")
    ensure_table(spark, table, df, {PROP_MODE: "duplicated", PROP_WEIGHT_FN: "log2"})
    df.repartition(4, "dt", "impression_id").write.format("delta").mode("append").partitionBy("dt").save(table)
    return root


def _cfg(root, *overrides: str, out=None):
    """The module's table under ``root``; models and reports under ``out`` (default: ``root``)."""
    outputs = [f"paths.{name}={out / name}" for name in ("models", "reports")] if out else []
    return config_under(root, *SMALL, *outputs, *overrides)


def _files(spark, cfg, day: dt.date):
    from wce_spark.lake.snapshot import resolve_snapshot, window
    from wce_spark.train.loop import samples_table

    return resolve_snapshot(spark, samples_table(cfg), *window(day, cfg["train.days"]))


def _serve(model_dir: str, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    import tensorflow as tf

    signature = tf.saved_model.load(model_dir).signatures["serving_default"]
    _, specs = signature.structured_input_signature
    out = signature(**{name: tf.constant(frame[name].to_numpy(), spec.dtype) for name, spec in specs.items()})
    return {k: v.numpy().astype(np.float64) for k, v in out.items()}


@pytest.fixture(scope="module")
def trained(spark, lake):
    from wce_spark.train.loop import train_model

    cfg = _cfg(lake)
    epochs_seen = []
    summary = train_model(cfg, D2, _files(spark, cfg, D2), deterministic=True,
                          on_epoch_end=lambda e, model, stats: epochs_seen.append((e, model.name, stats)))
    summary["epochs_seen"] = epochs_seen
    return cfg, summary


def test_train_exports_a_complete_model_with_meta(trained):
    cfg, summary = trained
    models = cfg["paths.models"]
    export = os.path.join(models, D2.isoformat())
    assert summary["model_dir"] == export
    assert sorted(os.listdir(models)) == [D2.isoformat()]  # no temporary folder, no run state left
    assert os.path.exists(os.path.join(export, "saved_model.pb"))

    with open(os.path.join(export, "model_meta.json")) as fh:
        meta = json.load(fh)
    assert meta["weight_fn"] == "log2" and meta["samples_mode"] == "duplicated"
    assert meta["window"] == {"start": D1.isoformat(), "end": D2.isoformat(), "days": 2}
    assert meta["snapshot"]["rows"] == 4 * IMPRESSIONS_PER_DAY and meta["snapshot"]["version"] >= 1
    assert meta["rows_trained"] == 2 * 4 * IMPRESSIONS_PER_DAY
    assert meta["steps"] == 2 * math.ceil(4 * IMPRESSIONS_PER_DAY / 256)
    assert math.isfinite(meta["final_loss"]) and meta["epoch_losses"][1] < meta["epoch_losses"][0]
    assert [(e, stats["loss"], stats["rows"]) for e, _, stats in summary["epochs_seen"]] == \
        [(1, meta["epoch_losses"][0], 4 * IMPRESSIONS_PER_DAY), (2, meta["epoch_losses"][1], 4 * IMPRESSIONS_PER_DAY)]
    assert meta["inputs"] == {"user_id": "string", "video_id": "string", "author_id": "string",
                              "hour": "int32", "video_duration_s": "float64"}
    assert meta["features"]["sparse"][0] == {"name": "user_id", "buckets": 97}
    assert meta["train"]["shuffle_unit"] == "row"

    with open(os.path.join(cfg["paths.reports"], "train", f"{D2}.json")) as fh:
        assert json.load(fh)["final_loss"] == meta["final_loss"]
    assert glob.glob(os.path.join(cfg["paths.reports"], "train", D2.isoformat(), "tensorboard", "events.out.*"))


def test_served_outputs_are_consistent_and_learn_the_signal(trained):
    cfg, summary = trained
    frame = _impressions(D2, 3000, seed=9)  # fresh impressions of the same world
    out = _serve(summary["model_dir"], frame)
    assert all(v.shape == (len(frame),) for v in out.values())
    np.testing.assert_allclose(out["odds"], out["p"] / (1 - out["p"]), rtol=1e-3)
    np.testing.assert_allclose(out["watch_time_s"], weighting.inverse(out["odds"], "log2"), rtol=1e-4, atol=1e-4)
    # The mean odds is E[w] and odds rank the videos by their expected weight.
    video = frame["video_id"].str[1:].astype(int).to_numpy()
    share = 0.05 + 0.9 * ((video * 7919) % 100) / 100
    mean_wt = (10.0 + (video * 37) % 290) * share
    corr = np.corrcoef(np.log(out["odds"]), np.log1p(mean_wt))[0, 1]
    print(f"corr(log odds, log1p E[wt | video]) = {corr:.3f}")
    assert corr > 0.6, corr  # measured 0.89 with 2 epochs on 4000 rows


def test_a_conf_that_disagrees_with_the_table_is_refused(spark, lake, tmp_path):
    from wce_spark.train.loop import train_model

    for override, fragment in (("samples.mode=weighted", "built with samples.mode=duplicated"),
                               ("weight.fn=linear", "built with weight.fn=log2")):
        cfg = _cfg(lake, override, out=tmp_path)
        with pytest.raises(UserError, match=fragment):
            train_model(cfg, D2, _files(spark, cfg, D2))
    assert not os.path.exists(tmp_path / "models")


def test_nan_loss_stops_with_a_clear_error_and_exports_nothing(spark, lake, tmp_path):
    from wce_spark.train.loop import TrainingDiverged, train_model

    cfg = _cfg(lake, "train.days=1", out=tmp_path)
    with pytest.raises(TrainingDiverged, match="the loss is nan.*nothing exported"):
        train_model(cfg, D0, _files(spark, cfg, D0), deterministic=True)
    assert not os.path.exists(tmp_path / "models" / D0.isoformat())


def test_a_killed_run_resumes_after_its_last_checkpoint(spark, lake, tmp_path, monkeypatch):
    from wce_spark.train import loop

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after training, before the export

    models = tmp_path / "models"
    cfg1 = _cfg(lake, "train.epochs=1", out=tmp_path)
    files = _files(spark, cfg1, D2)
    with monkeypatch.context() as patch:
        patch.setattr(loop, "export_model", killed)
        with pytest.raises(KeyboardInterrupt):
            loop.train_model(cfg1, D2, files, deterministic=True)
    assert os.path.exists(models / ".runs" / D2.isoformat() / "checkpoints" / "ckpt-1.index")
    assert not os.path.exists(models / D2.isoformat())

    summary = loop.train_model(_cfg(lake, "train.epochs=2", out=tmp_path), D2, files, deterministic=True)
    steps_per_epoch = math.ceil(4 * IMPRESSIONS_PER_DAY / 256)
    assert summary["resumed_after_epoch"] == 1 and len(summary["epoch_losses"]) == 1
    assert summary["rows_trained"] == 4 * IMPRESSIONS_PER_DAY and summary["steps"] == 2 * steps_per_epoch
    assert sorted(os.listdir(models)) == [D2.isoformat()]

    # Checkpoints of another conf are not resumed onto.
    with monkeypatch.context() as patch:
        patch.setattr(loop, "export_model", killed)
        with pytest.raises(KeyboardInterrupt):
            loop.train_model(cfg1, D2, files, deterministic=True)
    other = loop.train_model(_cfg(lake, "train.epochs=2", "train.learning_rate=0.005", out=tmp_path),
                             D2, files, deterministic=True)
    assert other["resumed_after_epoch"] is None and other["steps"] == 2 * steps_per_epoch


def test_warm_start_loads_the_published_model(spark, lake, trained, tmp_path):
    from wce_spark import storage
    from wce_spark.train.loop import train_model

    _, summary = trained
    shutil.copytree(summary["model_dir"], tmp_path / "models" / "published")
    storage.write_text_atomic(str(tmp_path / "models" / "latest"), "published\n")
    warm_cfg = _cfg(lake, "train.warm_start=latest", "train.learning_rate=1.0e-12", "train.epochs=1",
                    "train.days=1", out=tmp_path)
    warm = train_model(warm_cfg, D1, _files(spark, warm_cfg, D1), deterministic=True)
    assert warm["warm_start"] == str(tmp_path / "models" / "published")
    frame = _impressions(D1, 500, seed=5)
    np.testing.assert_allclose(_serve(warm["model_dir"], frame)["odds"], _serve(summary["model_dir"], frame)["odds"],
                               rtol=1e-4)

    wider = warm_cfg.with_overrides({"train.warm_start": summary["model_dir"], "model.embedding_dim": 8})
    with pytest.raises(UserError, match="cannot warm start.*embedding_dim"):
        train_model(wider, D1, _files(spark, wider, D1))


def test_the_train_package_does_not_import_pyspark():
    code = ("import sys; import wce_spark.train.loop, wce_spark.train.export, wce_spark.train.reader; "
            "sys.exit(1 if any(m.split('.')[0] == 'pyspark' for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True).returncode == 0
