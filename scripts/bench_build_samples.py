"""Benchmark build_samples against its copy floor, at one or more sizes, in one Spark session.

For each size N: generate one clean day of N impressions (not part of the result; with --reuse-logs a
previous run's logs of the same size and seed are kept), then time, in this order,
  - floor:  read the same impressions and playbacks and write as many sample rows to a Delta table,
            and the plays to another, with no validation, de-duplication, join or accounting (what
            any job must at least pay),
  - build:  build_samples for that day (validate, de-dup, window join, accounting, two Delta commits).
Goal: build / floor <= 1.3 at every size, and build time grows at most 1.1x as fast as the size.

While it runs, a sampler records the load average and the peak resident memory of this Python driver
and of the Spark JVM it started (local mode: the executors run inside that JVM), per phase, and the CPU
seconds both processes spent in each phase. On a shared machine wall time swings with the neighbours'
load; CPU seconds much less, so build/floor is reported both ways (on idle dedicated cores a CPU-bound
job's wall time is its CPU time over the cores).
Prints a table and writes JSON (--out). Run by hand:

  .venv/bin/python scripts/bench_build_samples.py --impressions 1000000 4000000 --root /tmp/bench/build_samples

--event-log DIR also writes Spark's event log (stage timings, plans) there, for profiling.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psutil  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from wce_spark.config import load_config  # noqa: E402
from wce_spark.spark import delta_io  # noqa: E402
from wce_spark.spark.build_samples import build_samples  # noqa: E402
from wce_spark.spark.raw_logs import partition_path  # noqa: E402
from wce_spark.spark.session import get_spark  # noqa: E402
from wce_spark.synth.generator import generate_logs  # noqa: E402

DAY = dt.date(2026, 3, 1)
MIB = 1 << 20


class Sampler:
    """Every ``interval`` seconds: RSS of this process and of its child processes (the Spark JVM), and
    the 1-minute load average. ``phase(name)`` starts a new bucket (and closes the last one's CPU
    seconds); ``stop()`` gives each bucket's peaks, mean load and CPU seconds."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.me = interval, psutil.Process()
        self.current, self.stats, self._cpu_at_start = "start", {}, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def phase(self, name: str) -> None:
        now = self.cpu_seconds()
        self._entry(self.current)["cpu_s"] = round(now - self._cpu_at_start, 1)
        self.current, self._cpu_at_start = name, now

    def _entry(self, name: str) -> dict:
        return self.stats.setdefault(name, {"python_mib": 0, "jvm_mib": 0, "total_mib": 0, "load": []})

    def cpu_seconds(self) -> float:
        """User + system CPU of this process and its live children (the JVM) so far."""
        total = sum(self.me.cpu_times()[:2])
        for child in self.me.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                pass
        return total

    def _sample(self) -> None:
        python = self.me.memory_info().rss
        jvm = 0
        for child in self.me.children(recursive=True):
            try:
                jvm += child.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        s = self._entry(self.current)
        s["python_mib"] = max(s["python_mib"], python // MIB)
        s["jvm_mib"] = max(s["jvm_mib"], jvm // MIB)
        s["total_mib"] = max(s["total_mib"], (python + jvm) // MIB)
        s["load"].append(os.getloadavg()[0])

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.phase("end")
        out = {}
        for name, s in self.stats.items():
            load = s.pop("load")
            if not load:  # a phase shorter than one sampling interval (or the closing one)
                continue
            out[name] = {**s, "load_avg_mean": round(sum(load) / len(load), 1) if load else None,
                         "load_avg_max": round(max(load), 1) if load else None}
        return out


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


def logs_ready(root: str, marker: dict) -> bool:
    path = os.path.join(root, "logs.json")
    return os.path.exists(path) and json.load(open(path)) == marker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impressions", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--conf", default="conf/local.yaml")
    ap.add_argument("--root", default="/tmp/bench/build_samples", help="scratch folder (its tables are emptied first)")
    ap.add_argument("--out", default=None, help="JSON result (default <paths.reports>/bench/build_samples.json)")
    ap.add_argument("--reuse-logs", action="store_true",
                    help="keep the generated logs of an earlier run of the same size and seed")
    ap.add_argument("--event-log", default=None, help="write Spark's event log to this folder")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()

    base = load_config(args.conf, args.overrides)
    if args.event_log:
        os.makedirs(args.event_log, exist_ok=True)
        base = base.with_overrides({"spark.extra": {**base["spark.extra"], "spark.eventLog.enabled": "true",
                                                    "spark.eventLog.compress": "false",
                                                    "spark.eventLog.dir": os.path.abspath(args.event_log)}})
    sampler = Sampler()
    spark = get_spark(base, "bench_build_samples")
    results = []
    for n in args.impressions:
        root = os.path.join(args.root, str(n))
        marker = {"impressions": n, "seed": base["synth.seed"], "day": DAY.isoformat()}
        cfg = base.with_overrides({f"paths.{p}": os.path.join(root, p) for p in
                                   ("impressions", "playbacks", "truth", "lake", "reports")})
        gen_s = None
        if not (args.reuse_logs and logs_ready(root, marker)):
            shutil.rmtree(root, ignore_errors=True)
            print(f"bench: generating {n:,} impressions", flush=True)
            sampler.phase(f"generate {n}")
            gen_s, _ = timed(lambda: generate_logs(spark, cfg, DAY, 1, dirty=False, impressions_per_day=n))
            with open(os.path.join(root, "logs.json"), "w") as fh:
                json.dump(marker, fh)
        shutil.rmtree(cfg["paths.lake"], ignore_errors=True)
        print(f"bench: {n:,} impressions (load average {os.getloadavg()[0]:.1f})", flush=True)
        sampler.phase(f"floor {n}")
        floor_s, floor_rows = timed(lambda: copy_floor(spark, cfg, DAY))
        sampler.phase(f"build {n}")
        build_s, report = timed(lambda: build_samples(spark, cfg, DAY))
        sampler.phase("idle")
        floor_cpu, build_cpu = sampler.stats[f"floor {n}"]["cpu_s"], sampler.stats[f"build {n}"]["cpu_s"]
        results.append({"impressions": n, "generate_s": gen_s and round(gen_s, 1), "build_s": round(build_s, 1),
                        "floor_s": round(floor_s, 1), "build_over_floor": round(build_s / floor_s, 2),
                        "floor_cpu_s": floor_cpu, "build_cpu_s": build_cpu,
                        "build_over_floor_cpu": round(build_cpu / floor_cpu, 2),
                        "sample_rows": report["samples"]["written"], "floor_rows": floor_rows,
                        "playbacks": report["playbacks"]["read"]})
        print(json.dumps(results[-1]), flush=True)
    if len(results) > 1:
        small, large = results[0], results[-1]
        scaling = {"size_ratio": large["impressions"] / small["impressions"],
                   "build_time_ratio": round(large["build_s"] / small["build_s"], 2),
                   "floor_time_ratio": round(large["floor_s"] / small["floor_s"], 2),
                   "build_cpu_ratio": round(large["build_cpu_s"] / small["build_cpu_s"], 2)}
    else:
        scaling = None
    meta = {"master": spark.sparkContext.master, "cores": os.cpu_count(), "python": platform.python_version(),
            "spark": spark.version, "shuffle_partitions": base["spark.shuffle_partitions"],
            "driver_memory": base["spark.driver_memory"], "command": " ".join(sys.argv),
            "ram_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
            "load_average_1_5_15_at_end": [round(x, 1) for x in os.getloadavg()]}
    memory = sampler.stop()  # before the JVM exits, so that its CPU seconds still count
    spark.stop()
    print(f"\n{'impressions':>12} {'generate s':>11} {'floor s':>8} {'build s':>8} {'build/floor':>12} "
          f"{'floor CPU s':>12} {'build CPU s':>12} {'CPU build/floor':>16}")
    for r in results:
        print(f"{r['impressions']:>12,} {str(r['generate_s']):>11} {r['floor_s']:>8} {r['build_s']:>8} "
              f"{r['build_over_floor']:>12} {r['floor_cpu_s']:>12} {r['build_cpu_s']:>12} {r['build_over_floor_cpu']:>16}")
    if scaling:
        print(f"build time ratio {scaling['build_time_ratio']} (CPU {scaling['build_cpu_ratio']}; floor "
              f"{scaling['floor_time_ratio']}) for size ratio {scaling['size_ratio']:g}")
    print(f"\n{'phase':>18} {'CPU s':>7} {'python MiB':>11} {'JVM MiB':>8} {'sum MiB':>8} {'load mean':>10} "
          f"{'load max':>9}")
    for name, m in memory.items():
        print(f"{name:>18} {str(m.get('cpu_s')):>7} {m['python_mib']:>11} {m['jvm_mib']:>8} {m['total_mib']:>8} "
              f"{str(m['load_avg_mean']):>10} {str(m['load_avg_max']):>9}")
    out = args.out or os.path.join(base["paths.reports"], "bench", "build_samples.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as fh:
        json.dump({"results": results, "scaling": scaling, "memory": memory, "meta": meta}, fh, indent=2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
