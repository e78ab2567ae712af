"""The daily job end to end on tiny real raw logs: build_samples -> Delta -> trainer -> SavedModel ->
evaluation on the holdout -> gate -> publish -> history; the job's CLI for a failed day."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT, config_under
from wce_spark.errors import UserError
from wce_spark.evaluate.scoring import ServingModel
from wce_spark.pipeline import publish as pub
from wce_spark.pipeline.daily import history_path, read_history, run_day, run_days

D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)
IMPRESSIONS_PER_DAY = 1500
SMALL = ["features.sparse=[{name: user_id, buckets: 97}, {name: video_id, buckets: 211}, "
         "{name: author_id, buckets: 31}, {name: hour, buckets: 24}]",
         "model.embedding_dim=4", "model.hidden_units=[16, 8]", "train.days=2", "train.epochs=4",
         "train.batch_size=256", "train.shuffle_buffer=1000", "train.learning_rate=0.02",
         "retrain.holdout_fraction=0.2", "retrain.tolerance=0.01"]


def _write(df: pd.DataFrame, root, day: dt.date) -> None:
    folder = root / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), folder / "part-0.parquet",
                   coerce_timestamps="us", allow_truncated_timestamps=True)


def write_raw_day(root, day: dt.date, seed: int) -> None:
    """Impressions of ``day`` and their plays; the mean watch time varies 20-fold across videos."""
    rng = np.random.default_rng(seed)
    n = IMPRESSIONS_PER_DAY
    video = rng.integers(0, 60, n)
    duration = 10.0 + (video * 37) % 290
    share = 0.05 + 0.9 * ((video * 7919) % 100) / 100
    ts = pd.Timestamp(day) + pd.to_timedelta(rng.uniform(0, 16 * 3600, n), unit="s")
    ids = [f"{day}-{i}" for i in range(n)]
    _write(pd.DataFrame({"impression_id": ids, "user_id": [f"u{u}" for u in rng.integers(0, 40, n)],
                         "video_id": [f"v{v}" for v in video], "author_id": [f"a{v % 12}" for v in video],
                         "event_ts": ts, "video_duration_s": duration}), root / "impressions", day)
    watched = rng.uniform(size=n) < 0.8
    play_s = np.minimum(rng.exponential(duration * share), 3000.0)[watched]
    _write(pd.DataFrame({"event_id": [f"p-{i}" for i in np.asarray(ids)[watched]],
                         "impression_id": np.asarray(ids)[watched],
                         "event_ts": ts[watched] + pd.to_timedelta(play_s, unit="s"),
                         "play_ms": (play_s * 1000).astype(np.int64)}), root / "playbacks", day)


@pytest.fixture(scope="module")
def base(spark, tmp_path_factory):
    """Raw logs of D1 and D2 (and D3's playbacks, so D2 is complete) and one published run of D1."""
    root = tmp_path_factory.mktemp("daily")
    write_raw_day(root, D1, 1)
    write_raw_day(root, D2, 2)
    _write(pd.DataFrame({"event_id": ["late"], "impression_id": ["none"],
                         "event_ts": [pd.Timestamp(D3)], "play_ms": [np.int64(1)]}), root / "playbacks", D3)
    records = run_days(config_under(root, *SMALL), D1, D1, spark=spark, deterministic=True)
    return root, records


@pytest.fixture
def copy(base, tmp_path):
    """A private copy of the base state (raw logs, lake, models, reports)."""
    shutil.copytree(base[0], tmp_path / "state")
    return tmp_path / "state"


def _holdout(spark, cfg, day: dt.date) -> pd.DataFrame:
    from pyspark.sql import functions as F

    from wce_spark.evaluate.day import load_impressions

    return load_impressions(spark, cfg, day, ["impression_id", "user_id", "video_id", "author_id",
                                              "video_duration_s", "hour", "watch_time_s"],
                            where=F.col("holdout_bucket") < 200).sort_values("impression_id")


def test_first_run_publishes_trains_without_the_holdout_and_reports(spark, base):
    root, (record,) = base
    cfg = config_under(root, *SMALL)
    assert record["decision"] == "published" and record["published_folder"] == D1.isoformat()
    assert "no published model" in record["reason"] and record["compared_with"] is None
    assert (root / "models" / "latest").read_text().strip() == D1.isoformat()
    assert read_history(cfg) == [json.loads(json.dumps(record))]
    samples = spark.read.format("delta").load(str(root / "lake" / "samples"))
    held = samples.where("holdout_bucket < 200")
    assert record["holdout"]["n"] == held.where("label = 1").count() > 150
    # every epoch read exactly the rows outside the holdout
    assert record["train"]["rows_trained"] == record["train"]["epochs"] * (samples.count() - held.count())
    assert record["table_version"] >= 0 and record["sample_rows"] == 2 * IMPRESSIONS_PER_DAY
    assert record["candidate"]["xauc"] > 0.58 and record["candidate"]["nonfinite_predictions"] == 0
    for suffix in ("json", "md", "calibration.png", "distribution.png", "xauc_by_duration.png"):
        assert (root / "reports" / "evaluate" / f"{D1}.{suffix}").stat().st_size > 100
    assert json.loads((root / "reports" / "evaluate" / f"{D1}.json").read_text())["n"] == record["holdout"]["n"]
    summary = (root / "reports" / "daily_retrain" / "summary.md").read_text()
    assert f"[{D1}](../evaluate/{D1}.md)" in summary and "published" in summary
    assert os.listdir(root / "models" / "_candidates") == []


def test_rerun_of_a_date_gives_the_same_published_state(spark, base, copy):
    cfg = config_under(copy, *SMALL)
    before = ServingModel(str(copy / "models" / D1.isoformat())).score(_holdout(spark, cfg, D1))
    (record,) = run_days(cfg, D1, D1, spark=spark, deterministic=True)
    assert "trained from scratch" in record["warm_start"]["reason"]  # not from D1's own model
    latest = pub.read_latest(str(copy / "models"))
    assert latest.startswith(D1.isoformat()) and latest == (record["published_folder"] or D1.isoformat())
    after = ServingModel(str(copy / "models" / latest)).score(_holdout(spark, cfg, D1))
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), rtol=1e-6)
    assert len(read_history(cfg)) == 2 and (copy / "models" / D1.isoformat() / "saved_model.pb").exists()


def test_worse_candidate_is_rejected_then_a_good_one_published(spark, base, copy):
    cfg = config_under(copy, *SMALL)
    # a model that sees only the hour (no signal in this data) is worse, and its feature spec forces a cold start
    worse_cfg = config_under(copy, *SMALL, "features.sparse=[{name: hour, buckets: 24}]", "features.dense=[]")
    rejected = run_day(spark, worse_cfg, D2, deterministic=True)
    assert rejected["decision"] == "rejected" and "worse beyond tolerance" in rejected["reason"]
    assert "incompatible" in rejected["warm_start"]["reason"] and "feature spec" in rejected["warm_start"]["reason"]
    assert rejected["compared_with"]["name"] == D1.isoformat()
    assert rejected["candidate"]["xauc"] < rejected["compared_with"]["xauc"] - 0.01
    assert pub.read_latest(str(copy / "models")) == D1.isoformat()
    assert (copy / "models" / "_candidates" / f"{D2}-{rejected['run_id']}" / "saved_model.pb").exists()

    published = run_day(spark, cfg, D2, deterministic=True)
    assert published["decision"] == "published" and published["published_folder"] == D2.isoformat()
    assert published["warm_start"]["from"] == str(copy / "models" / D1.isoformat())
    assert published["compared_with"]["xauc"] == pytest.approx(rejected["compared_with"]["xauc"])  # same rows
    assert published["holdout"]["n"] == rejected["holdout"]["n"]
    assert pub.read_latest(str(copy / "models")) == D2.isoformat()
    assert [r["decision"] for r in read_history(cfg)] == ["published", "rejected", "published"]


def test_failed_day_records_failed_exits_non_zero_and_keeps_latest(copy):
    args = [sys.executable, str(ROOT / "jobs" / "daily_retrain.py"), "--conf", str(ROOT / "conf" / "local.yaml"),
            "--date", D3.isoformat(), *[f"--set={o}" for o in SMALL], "--set=spark.shuffle_partitions=2",
            *[f"--set=paths.{p}={copy / p}" for p in ("impressions", "playbacks", "truth", "lake", "models", "reports")]]
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("daily_retrain: error:") and "impressions" in last
    (failed,) = [r for r in read_history(config_under(copy)) if r["date"] == D3.isoformat()]
    assert failed["decision"] == "failed" and "UserError" in failed["reason"]
    assert failed["latest"] == D1.isoformat() == pub.read_latest(str(copy / "models"))
    assert "failed" in (copy / "reports" / "daily_retrain" / "summary.md").read_text()
    assert history_path(config_under(copy)).endswith("daily_retrain/history.jsonl")


def test_no_holdout_is_refused(spark, copy):
    cfg = config_under(copy, *SMALL, "retrain.holdout_fraction=0")
    with pytest.raises(UserError, match="holdout"):
        run_day(spark, cfg, D2)
    assert read_history(cfg)[-1]["decision"] == "failed"
