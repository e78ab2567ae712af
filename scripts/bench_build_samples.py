"""Benchmark build_samples against its copy floor, at one or more sizes, in one Spark session.

For each size N: generate one clean day of N impressions (not timed as part of the result), then time
  - build:  build_samples for that day (validate, de-dup, window join, accounting, two Delta commits),
  - floor:  read the same impressions and playbacks and write as many sample rows to a Delta table,
            with no validation, de-duplication, join or accounting (what any job must at least pay).
Prints a table and writes JSON. Run by hand, on an otherwise idle machine:

  .venv/bin/python scripts/bench_build_samples.py --impressions 1000000 4000000
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyspark.sql import functions as F  # noqa: E402

from wce_spark.config import load_config  # noqa: E402
from wce_spark.spark import delta_io  # noqa: E402
from wce_spark.spark.build_samples import build_samples  # noqa: E402
from wce_spark.spark.raw_logs import partition_path  # noqa: E402
from wce_spark.spark.session import get_spark  # noqa: E402
from wce_spark.synth.generator import generate_logs  # noqa: E402

DAY = dt.date(2026, 3, 1)


def copy_floor(spark, cfg, day: dt.date) -> int:
    """Read the day's impressions and plays, write two rows per impression to Delta: the floor."""
    impressions = spark.read.parquet(partition_path(cfg["paths.impressions"], day))
    plays = (spark.read.parquet(partition_path(cfg["paths.playbacks"], day))
             .unionByName(spark.read.parquet(partition_path(cfg["paths.playbacks"], day + dt.timedelta(days=1)))))
    rows = (impressions.withColumn("label", F.explode(F.array(F.lit(1), F.lit(0))))
            .withColumn("weight", F.lit(1.0)).withColumn("dt", F.lit(day).cast("date")))
    delta_io.replace_day(rows, f"{cfg['paths.lake']}/floor", day)
    plays.write.format("delta").mode("overwrite").save(f"{cfg['paths.lake']}/floor_plays")
    return rows.count()


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impressions", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--conf", default="conf/local.yaml")
    ap.add_argument("--root", default="./data/bench/build_samples", help="scratch folder (emptied first)")
    ap.add_argument("--out", default="./data/bench/build_samples.json")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()

    base = load_config(args.conf, args.overrides)
    spark = get_spark(base, "bench_build_samples")
    results = []
    for n in args.impressions:
        root = os.path.join(args.root, str(n))
        shutil.rmtree(root, ignore_errors=True)
        cfg = base.with_overrides({f"paths.{p}": os.path.join(root, p) for p in
                                   ("impressions", "playbacks", "truth", "lake", "reports")})
        print(f"bench: {n:,} impressions (load average {os.getloadavg()[0]:.1f})", flush=True)
        gen_s, _ = timed(lambda: generate_logs(spark, cfg, DAY, 1, dirty=False, impressions_per_day=n))
        build_s, report = timed(lambda: build_samples(spark, cfg, DAY))
        floor_s, floor_rows = timed(lambda: copy_floor(spark, cfg, DAY))
        results.append({"impressions": n, "generate_s": round(gen_s, 1), "build_s": round(build_s, 1),
                        "floor_s": round(floor_s, 1), "build_over_floor": round(build_s / floor_s, 2),
                        "sample_rows": report["samples"]["written"], "floor_rows": floor_rows,
                        "playbacks": report["playbacks"]["read"]})
        print(json.dumps(results[-1]), flush=True)
    if len(results) > 1:
        small, large = results[0], results[-1]
        scaling = {"size_ratio": large["impressions"] / small["impressions"],
                   "build_time_ratio": round(large["build_s"] / small["build_s"], 2)}
    else:
        scaling = None
    meta = {"master": spark.sparkContext.master, "cores": os.cpu_count(), "python": platform.python_version(),
            "spark": spark.version, "shuffle_partitions": base["spark.shuffle_partitions"],
            "command": " ".join(sys.argv),
            "load_average_1_5_15_at_end": [round(x, 1) for x in os.getloadavg()]}
    spark.stop()
    print(f"\n{'impressions':>12} {'generate s':>11} {'build s':>8} {'floor s':>8} {'build/floor':>12}")
    for r in results:
        print(f"{r['impressions']:>12,} {r['generate_s']:>11} {r['build_s']:>8} {r['floor_s']:>8} "
              f"{r['build_over_floor']:>12}")
    if scaling:
        print(f"time ratio {scaling['build_time_ratio']} for size ratio {scaling['size_ratio']:g}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"results": results, "scaling": scaling, "meta": meta}, fh, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
