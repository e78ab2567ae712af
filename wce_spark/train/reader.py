"""Petastorm -> tf.data: the live snapshot's Parquet files as fixed-size, shuffled batches of columns.

Petastorm's batch reader yields whole row groups (only the projected columns, in shuffled row-group
order); tf.data regroups them into windows of ``shuffle_buffer`` rows, permutes each window's rows,
cuts fixed-size batches and prefetches. Every stage works on whole column tensors, never on single rows:
the per-row path (unbatch -> shuffle buffer -> batch) cost a third of the training speed on 2 cores
(scripts/bench_input_pipeline.py). Row groups are sharded by ``cur_shard`` / ``shard_count`` so several
workers read disjoint parts of one file list.

What Petastorm hands over for nulls: strings arrive as ``"None"``, integers as their type's minimum,
floats as NaN; the model's feature layers turn these into one hash bucket or a 0 input.
"""
from __future__ import annotations

import contextlib
import random
import re
import warnings
from typing import Iterator, Sequence

import numpy as np
import tensorflow as tf

from wce_spark.errors import UserError

# Petastorm 0.13 runs on pyarrow 14's legacy ParquetDataset (pinned on purpose, see setup.py); its
# deprecation warnings, one per file and thread, would bury the progress lines.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"petastorm(\..*)?$")

HOLDOUT_COLUMN = "holdout_bucket"
HOLDOUT_BUCKETS = 1000  # the range of build_samples' holdout_bucket (wce_spark.spark.build_samples)


def holdout_cutoff(fraction: float) -> int:
    """Rows with holdout_bucket below this are the holdout (``retrain.holdout_fraction``): never trained on."""
    return int(round(HOLDOUT_BUCKETS * fraction))


def shuffle_and_batch(groups: tf.data.Dataset, batch_size: int, shuffle_buffer: int = 0,
                      seed: int | None = None, keep_together: str | None = None) -> tf.data.Dataset:
    """Column batches of any sizes -> batches of ``batch_size`` rows (the last may be smaller).

    With ``shuffle_buffer`` > 1 the rows are first permuted within consecutive windows of that many rows
    (spanning row groups), which mixes rows as a shuffle buffer of that size does.

    ``keep_together`` (a column, e.g. impression_id) permutes groups of rows instead of rows: rows sharing
    its value stay adjacent, and windows are whole multiples of ``batch_size``, so such a group (scheme B's
    two copies of an impression) lands in one batch unless a window or row-group edge cut it."""
    if shuffle_buffer > 1 and keep_together:
        seed = random.getrandbits(31) if seed is None else seed

        def permute_groups(window: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            key = window[keep_together]
            key = key if key.dtype == tf.string else tf.strings.as_string(key)
            # A seeded hash of the key orders the groups at random; the stable sort keeps each group whole.
            order = tf.argsort(tf.strings.to_hash_bucket_strong(key, 2 ** 62, key=[seed, 0]), stable=True)
            return {name: tf.gather(values, order) for name, values in window.items()}

        window_rows = -(-max(shuffle_buffer, batch_size) // batch_size) * batch_size
        groups = groups.rebatch(window_rows).map(permute_groups)
    elif shuffle_buffer > 1:
        seed = random.getrandbits(31) if seed is None else seed

        def permute(index: tf.Tensor, window: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            n = tf.shape(next(iter(window.values())))[0]
            keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), index]))
            order = tf.argsort(keys)
            return {name: tf.gather(values, order) for name, values in window.items()}

        groups = groups.rebatch(max(shuffle_buffer, batch_size)).enumerate().map(permute)
    return groups.rebatch(batch_size).prefetch(tf.data.AUTOTUNE)


def tensor_dtype(numpy_dtype) -> tf.DType:
    """The TensorFlow dtype of a Petastorm field (its numpy dtype; strings arrive as numpy str arrays)."""
    if numpy_dtype in (str, bytes, np.str_, np.bytes_):
        return tf.string
    try:
        return tf.as_dtype(np.dtype(numpy_dtype))
    except TypeError:
        raise TypeError(f"a column of numpy type {numpy_dtype} has no TensorFlow dtype") from None


@contextlib.contextmanager
def open_dataset(urls: Sequence[str], columns: Sequence[str], batch_size: int, *,
                 shuffle_buffer: int = 0, seed: int | None = None, reader_workers: int = 2,
                 cur_shard: int | None = None, shard_count: int | None = None,
                 deterministic: bool = False, holdout_below: int = 0,
                 keep_together: str | None = None) -> Iterator[tf.data.Dataset]:
    """One pass over ``urls`` as a dataset of ``{column: (B,) tensor}`` batches, B = ``batch_size``
    except the last. The reader's threads live as long as the ``with`` block.

    ``deterministic``: one reader thread in file order, so equal seeds give equal batches (for tests);
    otherwise row groups are shuffled and read by ``reader_workers`` threads in whatever order they finish.
    ``holdout_below``: rows whose holdout_bucket is below it are dropped (files without the column, written
    before build_samples made it, are read whole).
    ``keep_together``: shuffle groups of rows sharing this column's value, not rows (see shuffle_and_batch);
    the column is read for that and left out of the batches unless ``columns`` asks for it.
    """
    from petastorm import make_batch_reader

    if not urls:
        raise UserError("no data files to read")
    extra = [HOLDOUT_COLUMN] if holdout_below > 0 else []
    extra += [keep_together] if keep_together else []
    read_columns = list(dict.fromkeys([*columns, *extra]))
    batch_columns = list(dict.fromkeys([*columns, *([keep_together] if keep_together else [])]))
    try:
        reader = make_batch_reader(
            list(urls), schema_fields=[re.escape(c) for c in read_columns], num_epochs=1,
            shuffle_row_groups=not deterministic, seed=seed,
            reader_pool_type="dummy" if deterministic else "thread",
            workers_count=1 if deterministic else reader_workers,
            cur_shard=cur_shard, shard_count=shard_count)
    except ValueError as exc:  # e.g. a projected column the files lack
        raise UserError(f"cannot read the samples files ({len(urls)} files, e.g. {urls[0]}): {exc}") from None
    missing = [c for c in batch_columns if c not in reader.schema.fields]
    if missing:
        reader.stop()
        reader.join()
        raise UserError(f"the samples files lack column(s) {', '.join(missing)} "
                        f"(they have: {', '.join(sorted(reader.schema.fields))}); check features.* in the conf")
    kept = [c for c in read_columns if c in reader.schema.fields]
    filter_holdout = HOLDOUT_COLUMN in kept and holdout_below > 0
    try:
        signature = {name: tf.TensorSpec([None], tensor_dtype(reader.schema.fields[name].numpy_dtype))
                     for name in kept}
    except TypeError as exc:
        reader.stop()
        reader.join()
        raise UserError(f"cannot feed the samples files to TensorFlow: {exc}") from None

    def row_groups() -> Iterator[dict]:
        """The reader's row groups as column arrays. Not petastorm.tf_utils.make_petastorm_dataset: that
        turns every string array into a Python list before TensorFlow converts it back, which was half the
        reader's CPU per row (scripts/bench_input_pipeline.py); TensorFlow takes numpy's str arrays as they are."""
        for group in reader:
            yield {name: getattr(group, name) for name in kept}

    def project(group: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """One row group -> the requested columns, holdout rows dropped (vectorised, before unbatching)."""
        if filter_holdout:
            keep = group[HOLDOUT_COLUMN] >= holdout_below
            group = {name: tf.boolean_mask(v, keep) for name, v in group.items()}
        return {name: group[name] for name in batch_columns}

    with reader:
        groups = tf.data.Dataset.from_generator(row_groups, output_signature=signature).map(project)
        batches = shuffle_and_batch(groups, batch_size, shuffle_buffer, seed, keep_together)
        if len(batch_columns) > len(columns):
            batches = batches.map(lambda batch: {name: batch[name] for name in columns})
        yield batches
