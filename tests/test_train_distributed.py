"""train.num_workers = 2: two TF workers in one Spark barrier stage of the session's local[2] SparkSession,
under MultiWorkerMirroredStrategy, each reading its own Petastorm shard; against a one-worker run on the
same table. Also the clear failures: too few slots, a worker's error, a NaN loss."""
from __future__ import annotations

import datetime as dt
import json
import os

import numpy as np
import pytest

from tests.test_train_loop import D0, D1, D2, SMALL, _impressions, _samples_frame, _serve
from tests.conftest import config_under
from wce_spark.errors import UserError

@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """duplicated/log2 samples with build_samples' holdout buckets: D1 and D2 of 1000 impressions in 4 files
    a day; D0's weights are NaN."""
    from pyspark.sql import functions as F

    from wce_spark.spark.build_samples import holdout_bucket
    from wce_spark.spark.delta_io import PROP_MODE, PROP_WEIGHT_FN, ensure_table

    root = tmp_path_factory.mktemp("train_distributed")
    broken = _impressions(D0, 200, seed=0).assign(watch_time_s=np.nan)
    df = (_samples_frame(spark, [broken, _impressions(D1, 1000, 1), _impressions(D2, 1000, 2)], "duplicated", "log2")
          .withColumn("holdout_bucket", holdout_bucket(F.col("impression_id"))))
    table = str(root / "lake" / "samples")
    ensure_table(spark, table, df, {PROP_MODE: "duplicated", PROP_WEIGHT_FN: "log2"})
    df.repartition(4, "dt", "impression_id").write.format("delta").mode("append").partitionBy("dt").save(table)
    return root


def _cfg(lake, out, *overrides):
    return config_under(lake, *SMALL, f"paths.models={out / 'models'}", f"paths.reports={out / 'reports'}",
                        *overrides)


def _train(spark, cfg, day=D2):
    from wce_spark.lake.snapshot import resolve_snapshot, window
    from wce_spark.train.distributed import train_with_spark
    from wce_spark.train.loop import samples_table

    files = resolve_snapshot(spark, samples_table(cfg), *window(day, cfg["train.days"]))
    return train_with_spark(spark, cfg, day, files, deterministic=True)


def _corr_with_truth(model_dir: str) -> float:
    """corr(log odds, log1p E[watch time | video]) on fresh impressions of the same world."""
    frame = _impressions(D2, 3000, seed=9)
    odds = _serve(model_dir, frame)["odds"]
    video = frame["video_id"].str[1:].astype(int).to_numpy()
    mean_wt = (10.0 + (video * 37) % 290) * (0.05 + 0.9 * ((video * 7919) % 100) / 100)
    return float(np.corrcoef(np.log(odds), np.log1p(mean_wt))[0, 1])


def test_two_workers_train_one_model_close_to_one_worker(spark, lake, tmp_path):
    one = _train(spark, _cfg(lake, tmp_path / "one"))
    two = _train(spark, _cfg(lake, tmp_path / "two", "train.num_workers=2"))

    models = tmp_path / "two" / "models"
    assert sorted(os.listdir(models)) == [D2.isoformat()]  # one SavedModel, no run state, nothing of worker 1
    assert two["model_dir"] == str(models / D2.isoformat()) and two["num_workers"] == 2
    workers = two["workers"]
    assert [w["index"] for w in workers] == [0, 1]
    steps_per_epoch = workers[0]["steps_per_epoch"]
    for w in workers:  # both trained, the same fixed steps, on half batches of their own shard
        assert w["rows"] > 0 and w["steps"] == 2 * steps_per_epoch and w["batch_size"] == 128
    assert two["steps"] == 2 * steps_per_epoch and sum(w["rows"] for w in workers) == two["rows_trained"]
    # An epoch is ceil(snapshot rows less the expected holdout share / 256) steps: about one pass.
    print(f"rows trained: one worker {one['rows_trained']} in {one['steps']} steps, two {two['rows_trained']}")
    assert abs(two["rows_trained"] - one["rows_trained"]) <= 2 * 256
    with open(tmp_path / "two" / "reports" / "train" / f"{D2}.json") as fh:
        assert json.load(fh)["workers"] == workers
    with open(models / D2.isoformat() / "model_meta.json") as fh:
        assert json.load(fh)["num_workers"] == 2

    corr_one, corr_two = _corr_with_truth(one["model_dir"]), _corr_with_truth(two["model_dir"])
    print(f"final loss: one worker {one['final_loss']:.4f}, two {two['final_loss']:.4f}; corr with the truth: "
          f"one worker {corr_one:.3f}, two {corr_two:.3f}")
    assert abs(two["final_loss"] - one["final_loss"]) < 0.03 * one["final_loss"]  # measured 0.8% apart
    assert corr_two > 0.6 and abs(corr_two - corr_one) < 0.1  # measured 0.832 and 0.851


def test_a_nan_loss_stops_every_worker_and_exports_nothing(spark, lake, tmp_path):
    from wce_spark.train.loop import TrainingDiverged

    with pytest.raises(TrainingDiverged, match="the loss is nan.*nothing exported"):
        _train(spark, _cfg(lake, tmp_path, "train.num_workers=2", "train.days=1"), day=D0)
    assert not os.path.exists(tmp_path / "models" / D0.isoformat())
    assert not os.path.exists(tmp_path / "reports" / "train" / f"{D0}.json")


def test_a_worker_error_fails_the_run_with_its_message(spark, lake, tmp_path):
    cfg = _cfg(lake, tmp_path, "train.num_workers=2", f"train.warm_start={tmp_path / 'not-a-model'}")
    with pytest.raises(UserError, match=r"train worker \d/2: .*not-a-model is not an exported model"):
        _train(spark, cfg)
    assert not os.path.exists(tmp_path / "models" / D2.isoformat())


def test_more_workers_than_task_slots_is_refused_before_starting(spark, lake, tmp_path):
    with pytest.raises(UserError, match="train.num_workers=3 needs 3 task slots at once .* Spark offers 2"):
        _train(spark, _cfg(lake, tmp_path, "train.num_workers=3"))
