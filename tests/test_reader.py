"""The reader's shuffle (wce_spark/train/reader.py): rows permuted within windows, or, with
``keep_together``, groups of rows (scheme B's two copies of an impression) permuted as units so both
copies share a batch. Real tf.data and, for open_dataset, real Parquet files read by Petastorm."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from wce_spark.train.reader import open_dataset, shuffle_and_batch

IMPRESSIONS = 3000
GROUP_ROWS = 500  # even: a row group never cuts an impression's two rows apart
BATCH = 64


def _pairs_in_row_groups() -> tf.data.Dataset:
    """A scheme-B-like stream: impression i as rows (label 1, label 0), adjacent, in row groups."""
    ids = np.repeat([f"imp{i:05d}" for i in range(IMPRESSIONS)], 2)
    labels = np.tile([1, 0], IMPRESSIONS)
    return tf.data.Dataset.from_tensor_slices({"impression_id": ids, "label": labels}).batch(GROUP_ROWS)


def _batches(ds: tf.data.Dataset) -> list[list[str]]:
    return [[s.decode() for s in batch["impression_id"].numpy()] for batch in ds]


def _share_of_pairs_in_one_batch(batches: list[list[str]]) -> float:
    seen: dict[str, set[int]] = defaultdict(set)
    for b, ids in enumerate(batches):
        for i in ids:
            seen[i].add(b)
    return sum(len(where) == 1 for where in seen.values()) / len(seen)


def _rows(batches: list[list[str]]) -> list[str]:
    return [i for ids in batches for i in ids]


def test_row_shuffle_permutes_rows_and_separates_the_copies():
    batches = _batches(shuffle_and_batch(_pairs_in_row_groups(), BATCH, shuffle_buffer=2000, seed=3))
    rows = _rows(batches)
    assert sorted(rows) == sorted(np.repeat([f"imp{i:05d}" for i in range(IMPRESSIONS)], 2).tolist())
    assert all(len(b) == BATCH for b in batches[:-1])
    # Rows move independently: most impressions' two copies end up in different batches.
    assert _share_of_pairs_in_one_batch(batches) < 0.2


def test_keep_together_permutes_impressions_and_keeps_both_copies_in_one_batch():
    batches = _batches(shuffle_and_batch(_pairs_in_row_groups(), BATCH, shuffle_buffer=2000, seed=3,
                                         keep_together="impression_id"))
    rows = _rows(batches)
    assert sorted(rows) == sorted(np.repeat([f"imp{i:05d}" for i in range(IMPRESSIONS)], 2).tolist())
    assert all(len(b) == BATCH for b in batches[:-1])
    assert _share_of_pairs_in_one_batch(batches) == 1.0
    # The impressions are shuffled (not in file order) and another seed shuffles them differently.
    order = list(dict.fromkeys(rows))
    assert order != sorted(order)
    other = list(dict.fromkeys(_rows(_batches(shuffle_and_batch(
        _pairs_in_row_groups(), BATCH, shuffle_buffer=2000, seed=4, keep_together="impression_id")))))
    assert other != order
    # Shuffled across the whole window, not only locally: the first batch draws from far apart in the file.
    first = sorted(int(i[3:]) for i in batches[0])
    assert first[-1] - first[0] > 500


def test_open_dataset_keeps_copies_together_and_leaves_the_key_out(tmp_path):
    ids = np.repeat([f"imp{i:05d}" for i in range(IMPRESSIONS)], 2)
    table = pa.table({"impression_id": ids, "label": np.tile([1, 0], IMPRESSIONS).astype(np.int32),
                      "weight": np.tile([2.0, 1.0], IMPRESSIONS)})
    path = tmp_path / "part-0.parquet"
    pq.write_table(table, path, row_group_size=GROUP_ROWS)
    url = f"file://{path}"

    with open_dataset([url], ["label", "weight"], BATCH, shuffle_buffer=1000, seed=1,
                      keep_together="impression_id") as ds:
        batches = list(ds)
    assert all(set(b) == {"label", "weight"} for b in batches)
    labels = np.concatenate([b["label"].numpy() for b in batches])
    assert len(labels) == 2 * IMPRESSIONS
    # Both copies together: every full batch holds as many positives as negatives.
    assert all(int(b["label"].numpy().sum()) == BATCH // 2 for b in batches[:-1])

    with open_dataset([url], ["impression_id", "label"], BATCH, shuffle_buffer=1000, seed=1,
                      keep_together="impression_id") as ds:
        assert _share_of_pairs_in_one_batch(_batches(ds)) == 1.0
