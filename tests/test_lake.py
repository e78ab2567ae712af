"""A Delta snapshot resolved to its live files: Petastorm reads exactly the window of one table version."""
from __future__ import annotations

import datetime as dt
import glob
import os

import pytest

from wce_spark.errors import UserError
from wce_spark.lake.snapshot import _refuse_unreadable_layout, reader_url, resolve_snapshot, window

D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)


def _rows(spark, days: dict[dt.date, tuple[str, int]]):
    """Sample-like rows: ``{day: (id prefix, n)}``, two files per day."""
    rows = [(day, f"{tag}-{i}", 1, 1.5, f"u{i % 5}", _bucket(i)) for day, (tag, n) in days.items() for i in range(n)]
    df = spark.createDataFrame(rows, "dt date, impression_id string, label int, weight double, user_id string, "
                                     "holdout_bucket int")
    return df.repartition(2 * len(days), "dt", "impression_id")


def _bucket(i: int) -> int:
    return (i * 379) % 1000


def _ids(days: dict[dt.date, tuple[str, int]]) -> dict[dt.date, list[str]]:
    return {day: [f"{tag}-{i}" for i in range(n)] for day, (tag, n) in days.items()}


def _create(spark, table: str, days: dict[dt.date, tuple[str, int]]) -> None:
    """A samples-like table as build_samples makes it (properties included), loaded in one commit."""
    from wce_spark.spark.delta_io import PROP_MODE, PROP_WEIGHT_FN, ensure_table

    df = _rows(spark, days)
    ensure_table(spark, table, df, {PROP_MODE: "duplicated", PROP_WEIGHT_FN: "log2"})
    df.write.format("delta").mode("append").partitionBy("dt").save(table)


def _replace(spark, table: str, day: dt.date, tag: str, n: int) -> list[str]:
    from wce_spark.spark.delta_io import replace_day

    replace_day(_rows(spark, {day: (tag, n)}), table, day)
    return _ids({day: (tag, n)})[day]


def _read_ids(urls: list[str], **kwargs) -> list[str]:
    from wce_spark.train.reader import open_dataset

    ids: list[str] = []
    with open_dataset(urls, ["impression_id", "label"], 7, deterministic=True, **kwargs) as ds:
        for batch in ds:
            ids += [s.decode() for s in batch["impression_id"].numpy()]
    return ids


@pytest.fixture(scope="module")
def table(spark, tmp_path_factory):
    """Days 1-3, then day 2 overwritten (replaceWhere) with other, fewer rows."""
    path = str(tmp_path_factory.mktemp("lake") / "samples")
    first = {D1: ("a", 40), D2: ("b_old", 50), D3: ("c", 30)}
    _create(spark, path, first)
    days = _ids(first)
    days[D2] = _replace(spark, path, D2, "b_new", 20)
    return path, days


def test_window_is_the_n_days_ending_at_the_date():
    assert window(D3, 3) == (D1, D3)
    assert window(D3, 1) == (D3, D3)


def test_reader_url_turns_spark_paths_into_petastorm_urls():
    assert reader_url("file:/tmp/a%20b/dt=2026-03-01/part-0.parquet") == "file:///tmp/a b/dt=2026-03-01/part-0.parquet"
    assert reader_url("hdfs://nn:8020/lake/samples/x.parquet") == "hdfs://nn:8020/lake/samples/x.parquet"


def test_petastorm_sees_only_the_live_snapshot_of_the_window(spark, table):
    from wce_spark.spark.delta_io import table_version

    path, days = table
    files = resolve_snapshot(spark, path, D1, D2)
    assert files.version == table_version(spark, path)
    assert files.samples_mode == "duplicated" and files.weight_fn == "log2"
    assert {f.dt for f in files.files} == {D1, D2}
    assert files.rows_by_day() == {D1.isoformat(): 40, D2.isoformat(): 20} and files.missing_days() == []
    assert all(f"/dt={f.dt.isoformat()}/" in f.url for f in files.files)

    # The overwritten day's old files are still on disk (Delta keeps them until VACUUM) ...
    on_disk = glob.glob(os.path.join(path, f"dt={D2.isoformat()}", "*.parquet"))
    listed = [u for u in files.urls if f"dt={D2.isoformat()}" in u]
    assert len(on_disk) > len(listed)
    # ... but the reader gets exactly the live rows: no duplicates, nothing removed, nothing outside.
    ids = _read_ids(files.urls)
    assert len(ids) == len(set(ids)) == 60
    assert sorted(ids) == sorted(days[D1] + days[D2])


def test_resolved_files_stay_the_pinned_version_when_the_table_moves_on(spark, tmp_path):
    path = str(tmp_path / "samples")
    _create(spark, path, {D1: ("v1", 12)})
    files = resolve_snapshot(spark, path, D1, D1)
    _replace(spark, path, D1, "v2", 8)
    assert sorted(_read_ids(files.urls)) == sorted(_ids({D1: ("v1", 12)})[D1])
    assert resolve_snapshot(spark, path, D1, D1).version == files.version + 1


def test_shards_are_disjoint_and_cover_the_window(spark, table):
    path, days = table
    files = resolve_snapshot(spark, path, D1, D3)
    assert len(files.files) >= 4
    shards = [_read_ids(files.urls, cur_shard=k, shard_count=2) for k in range(2)]
    assert shards[0] and shards[1] and not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == sorted(days[D1] + days[D2] + days[D3])


def test_the_retrain_holdout_is_never_read(spark, table):
    path, days = table
    files = resolve_snapshot(spark, path, D1, D1)
    kept = _read_ids(files.urls, holdout_below=300)
    assert sorted(kept) == sorted(i for i in days[D1] if _bucket(int(i.split("-")[1])) >= 300)
    assert 0 < len(kept) < len(days[D1])


def test_empty_window_and_missing_table(spark, table, tmp_path):
    path, _ = table
    files = resolve_snapshot(spark, path, dt.date(2025, 1, 1), dt.date(2025, 1, 2))
    assert files.files == () and files.missing_days() == ["2025-01-01", "2025-01-02"]
    with pytest.raises(UserError, match="no Delta table"):
        resolve_snapshot(spark, str(tmp_path / "nothing"), D1, D2)


def test_a_feature_column_the_files_lack_is_a_user_error(spark, table):
    from wce_spark.train.reader import open_dataset

    files = resolve_snapshot(spark, table[0], D1, D1)
    with pytest.raises(UserError, match="lack column.*video_id"):
        with open_dataset(files.urls, ["impression_id", "video_id"], 8, deterministic=True):
            pass


def test_layouts_a_parquet_reader_would_misread_are_refused(spark, tmp_path):
    path = str(tmp_path / "samples")
    _rows(spark, {D1: ("x", 5)}).write.format("delta").partitionBy("dt").save(path)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    with pytest.raises(UserError, match="deletion vectors"):
        resolve_snapshot(spark, path, D1, D1)
    with pytest.raises(UserError, match="column mapping"):
        _refuse_unreadable_layout("t", {"delta.columnMapping.mode": "name"}, [])
