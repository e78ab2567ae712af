"""Benchmark: DeepFM training rows/s fed by Petastorm from the Delta snapshot vs. fed from memory.

Every feed runs the trainer's own step (``make_train_step``) on the same model config, batch size and
shuffle buffer; only the input differs:
- ``memory``: the snapshot's rows, read into tensors once beforehand, through the same tf.data stages
  (``wce_spark.train.reader.shuffle_and_batch``);
- ``batches``: the same rows already shuffled and cut into batches in memory: no input work at all, the
  model's own speed (the upper bound);
- ``petastorm``: ``wce_spark.train.reader.open_dataset`` over the snapshot's live files (what training
  uses), including the reader's start-up in each pass.
Passes alternate between the feeds (``--repeats`` each, after one warm-up pass each that traces the
step); the table shows the median pass. Goal: petastorm / memory >= 0.9.

Each pass also records the process's CPU seconds (all threads: TF's and the reader's). On a shared machine the
wall-clock ratio swings with the neighbours' load; CPU per row does much less, and on dedicated cores a
CPU-bound trainer's rows/s is cores / (CPU per row), so ``memory CPU/row / petastorm CPU/row`` is the ratio the
same run would show on an idle machine. Both ratios are printed and saved.

The data is either an existing samples table (``--date``: the conf's window ending there) or, by
default, a synthetic samples table of ``--impressions`` rows written with Spark under ``--workdir``.

    .venv/bin/python scripts/bench_input_pipeline.py --conf conf/local.yaml --impressions 200000
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wce_spark.cli import parse_date  # noqa: E402
from wce_spark.config import load_config  # noqa: E402

NAME = "bench_input_pipeline"


def log(message: str) -> None:
    print(f"{NAME}: {message}", flush=True)


def write_synthetic_samples(spark, table: str, end: dt.date, days: int, impressions: int, mode: str,
                            weight_fn: str, files_per_day: int) -> None:
    """Sample rows in the contract's schema with build_samples' layout (a positive and, duplicated,
    its negative side by side), ``files_per_day`` files per dt, one commit."""
    from pyspark.sql import functions as F

    from wce_spark.spark.columns import weight_col
    from wce_spark.spark.delta_io import PROP_MODE, PROP_WEIGHT_FN, ensure_table

    def draw(salt: str) -> F.Column:  # deterministic U[0, 1) per row
        return F.shiftrightunsigned(F.xxhash64(F.lit(salt), F.col("id")), 11) / float(1 << 53)

    per_day = impressions // days
    base = (spark.range(per_day * days)
            .withColumn("dt", F.date_sub(F.lit(end), (F.col("id") % days).cast("int")))
            .withColumn("impression_id", F.col("id").cast("string"))
            .withColumn("user_id", F.concat(F.lit("u"), F.floor(draw("u") * 50000).cast("string")))
            .withColumn("video_id", F.concat(F.lit("v"), F.floor(F.pow(draw("v"), 2.0) * 100000).cast("string")))
            .withColumn("author_id", F.concat(F.lit("a"), F.floor(draw("a") * 5000).cast("string")))
            .withColumn("video_duration_s", 3.0 + F.exp(draw("d") * 6.0))
            .withColumn("hour", F.floor(draw("h") * 24).cast("int"))
            .withColumn("watch_time_s", F.col("video_duration_s") * draw("w") * 1.2))
    copies = [F.struct(F.lit(1).alias("label"), weight_col(F.col("watch_time_s"), weight_fn).alias("weight"))]
    if mode == "duplicated":
        copies.append(F.struct(F.lit(0).alias("label"), F.lit(1.0).alias("weight")))
    samples = (base.withColumn("_copy", F.explode(F.array(*copies)))
               .select("dt", "impression_id", "_copy.label", "_copy.weight", "watch_time_s", "user_id",
                       "video_id", "author_id", "video_duration_s", "hour"))
    ensure_table(spark, table, samples, {PROP_MODE: mode, PROP_WEIGHT_FN: weight_fn})
    (samples.repartition(files_per_day * days, "dt", "impression_id")
     .write.format("delta").mode("append").partitionBy("dt").save(table))


def read_into_memory(urls: list[str], columns: list[str]) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from wce_spark.lake.snapshot import reader_url

    paths = [reader_url(u)[len("file://"):] for u in urls]
    table = pa.concat_tables([pq.read_table(p, columns=columns) for p in paths])
    return {c: np.asarray(table.column(c).to_numpy(zero_copy_only=False)) for c in columns}


def process_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def main() -> int:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conf", default="conf/local.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--date", type=parse_date, help="use the conf's samples table, window ending here")
    parser.add_argument("--impressions", type=int, default=200_000, help="synthetic table size (no --date)")
    parser.add_argument("--files-per-day", type=int, default=2)
    parser.add_argument("--workdir", default="/tmp/wce_bench", help="synthetic table location (no --date)")
    parser.add_argument("--repeats", type=int, default=5, help="measured passes per feed")
    parser.add_argument("--out", help="JSON result path (default <paths.reports>/bench/input_pipeline.json)")
    args = parser.parse_args()
    cfg = load_config(args.conf, args.overrides)

    from wce_spark.lake.snapshot import resolve_snapshot, window
    from wce_spark.spark.session import get_spark

    spark = get_spark(cfg, NAME)
    if args.date:
        end, table = args.date, f"{cfg['paths.lake'].rstrip('/')}/samples"
    else:
        end = dt.date(2026, 3, 7)
        table = os.path.join(os.path.abspath(args.workdir), f"samples_{args.impressions}_{cfg['samples.mode']}")
        from wce_spark.spark.delta_io import is_delta_table

        if not is_delta_table(spark, table):
            log(f"writing {args.impressions} synthetic impressions to {table}")
            write_synthetic_samples(spark, table, end, cfg["train.days"], args.impressions, cfg["samples.mode"],
                                    cfg["weight.fn"], args.files_per_day)
    files = resolve_snapshot(spark, table, *window(end, cfg["train.days"]))
    spark.stop()  # the benchmark measures the TF side alone
    log(f"snapshot {table} v{files.version}: {len(files.files)} files, {files.rows} rows")

    import tensorflow as tf
    import tf_keras as keras

    from wce_spark.train.features import LABEL, WEIGHT, FeatureSpec
    from wce_spark.train.loop import make_train_step
    from wce_spark.train.losses import row_loss_for_mode
    from wce_spark.train.model import DeepFM, model_config
    from wce_spark.train.reader import open_dataset, shuffle_and_batch

    spec = FeatureSpec.from_config(cfg)
    columns = spec.columns + [LABEL, WEIGHT]
    batch, buffer, seed = cfg["train.batch_size"], cfg["train.shuffle_buffer"], cfg["train.seed"]
    model = DeepFM(**model_config(cfg, spec))
    model.build()
    optimizer = keras.optimizers.Adam(learning_rate=cfg["train.learning_rate"])
    step = make_train_step(model, optimizer, row_loss_for_mode(files.samples_mode or cfg["samples.mode"]),
                           spec.columns, tf.distribute.get_strategy())

    t0 = time.time()
    tensors = {name: tf.constant(values) for name, values in read_into_memory(files.urls, columns).items()}
    log(f"read {int(tensors[LABEL].shape[0])} rows into memory (as tensors) in {time.time() - t0:.1f}s")

    def memory_batches():
        return contextlib.nullcontext(shuffle_and_batch(tf.data.Dataset.from_tensors(tensors), batch, buffer, seed))

    batches = list(shuffle_and_batch(tf.data.Dataset.from_tensors(tensors), batch, buffer, seed))

    def petastorm_batches():
        return open_dataset(files.urls, columns, batch, shuffle_buffer=buffer, seed=seed,
                            reader_workers=cfg["train.reader_workers"])

    def timed_pass(open_feed) -> tuple[int, float, float]:
        """(rows, wall seconds, process CPU seconds) of one training pass over the feed."""
        cpu, start = process_cpu_seconds(), time.perf_counter()
        with open_feed() as ds:
            rows = sum(int(step(b)[1]) for b in ds)
        return rows, time.perf_counter() - start, process_cpu_seconds() - cpu

    feeds = {"memory": memory_batches, "batches": lambda: contextlib.nullcontext(batches),
             "petastorm": petastorm_batches}
    for name, open_feed in feeds.items():
        rows, seconds, _ = timed_pass(open_feed)
        log(f"warm-up {name}: {rows} rows in {seconds:.1f}s")
    passes: dict[str, list[float]] = {name: [] for name in feeds}
    cpu_us: dict[str, list[float]] = {name: [] for name in feeds}
    for r in range(args.repeats):
        for name, open_feed in feeds.items():
            rows, seconds, cpu = timed_pass(open_feed)
            passes[name].append(rows / seconds)
            cpu_us[name].append(cpu / rows * 1e6)
            log(f"pass {r + 1}/{args.repeats} {name}: {rows} rows in {seconds:.2f}s = {rows / seconds:.0f} rows/s, "
                f"{cpu_us[name][-1]:.1f} CPU us/row (load average {os.getloadavg()[0]:.1f})")

    median = {name: statistics.median(v) for name, v in passes.items()}
    median_cpu = {name: statistics.median(v) for name, v in cpu_us.items()}
    ratio = median["petastorm"] / median["memory"]
    ratio_batches = median["petastorm"] / median["batches"]
    ratio_cpu = median_cpu["memory"] / median_cpu["petastorm"]
    print(f"\n{'feed':<10} {'rows/s (median)':>16} {'CPU us/row (median)':>20} {'rows/s of each pass':>40}")
    for name, values in passes.items():
        print(f"{name:<10} {median[name]:>16.0f} {median_cpu[name]:>20.1f} {', '.join(f'{v:.0f}' for v in values):>40}")
    print(f"\npetastorm / memory: {ratio:.3f} by wall clock, {ratio_cpu:.3f} by CPU per row (goal >= 0.9); "
          f"petastorm / batches = {ratio_batches:.3f} by wall clock")

    result = {"command": " ".join([os.path.relpath(sys.executable), *sys.argv]), "table": table,
              "version": files.version, "files": len(files.files), "rows": files.rows,
              "samples_mode": files.samples_mode, "batch_size": batch, "shuffle_buffer": buffer,
              "reader_workers": cfg["train.reader_workers"], "cpus": os.cpu_count(),
              "load_average": os.getloadavg(), "rows_per_s": passes, "median_rows_per_s": median,
              "cpu_us_per_row": cpu_us, "median_cpu_us_per_row": median_cpu,
              "ratio": ratio, "ratio_by_cpu": ratio_cpu, "ratio_vs_batches": ratio_batches, "goal": 0.9,
              "meets_goal": ratio >= 0.9, "meets_goal_by_cpu": ratio_cpu >= 0.9,
              "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    out = args.out or os.path.join(cfg["paths.reports"], "bench", "input_pipeline.json")
    from wce_spark import storage

    storage.write_json_atomic(out, result)
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
