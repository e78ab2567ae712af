"""Benchmark the exported SavedModel's inference: latency p50/p99 and throughput at several batch sizes,
through ``serving_default`` (logit decoded to p, odds, watch_time_s) and through ``logit`` (the same
model, no decoding). Goal: the decoding costs under 5% of a call.

The two signatures are called alternately, one call each in turn, on the same inputs, so both see
the same neighbours' load; the decode cost is the median of the paired differences (serving_default
minus logit) over the median serving_default call. Without --model, a DeepFM of the conf's sizes is
exported (its weights as initialised: the cost of a call does not depend on their values).

  .venv/bin/python scripts/bench_serving.py --conf conf/local.yaml --out /tmp/bench/serving.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from wce_spark.config import load_config  # noqa: E402

NAME = "bench_serving"


def log(message: str) -> None:
    print(f"{NAME}: {message}", flush=True)


def export_fresh_model(cfg, export_dir: str) -> str:
    """A DeepFM of the conf's sizes, exported exactly as training exports it."""
    from wce_spark.train.export import export_model, serving_input_dtypes
    from wce_spark.train.features import FeatureSpec
    from wce_spark.train.model import DeepFM, model_config

    spec = FeatureSpec.from_config(cfg)
    model = DeepFM(**model_config(cfg, spec))
    model.build()
    dtypes = serving_input_dtypes(spec, {})
    example = random_batch(dtypes, 64, np.random.default_rng(0))
    export_model(model, cfg["weight.fn"], dtypes, export_dir, {"weight_fn": cfg["weight.fn"], "bench": True}, example)
    return export_dir


def random_batch(dtypes: dict, n: int, rng: np.random.Generator) -> dict:
    """Plausible raw feature values: id strings, hours 0-23, durations 1-600 s."""
    import tensorflow as tf

    out = {}
    for name, dtype in dtypes.items():
        if dtype == tf.string:
            out[name] = tf.constant([f"{name[0]}{i}" for i in rng.integers(0, 100_000, n)])
        elif name == "hour":
            out[name] = tf.constant(rng.integers(0, 24, n), dtype)
        else:
            out[name] = tf.constant(rng.uniform(1.0, 600.0, n), dtype)
    return out


def measure(signatures: dict, feeds: list[dict], calls: int) -> dict[str, list[float]]:
    """Seconds per call of each signature, called alternately on the same feeds."""
    times = {name: [] for name in signatures}
    for i in range(calls):
        feed = feeds[i % len(feeds)]
        for name, fn in signatures.items():
            t0 = time.perf_counter()
            fn(**feed)
            times[name].append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conf", default="conf/local.yaml")
    ap.add_argument("--model", default=None, help="an exported model folder (default: export a fresh one)")
    ap.add_argument("--workdir", default="/tmp/bench/serving", help="where the fresh model is exported")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 1024])
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring time per batch size (both signatures)")
    ap.add_argument("--out", default=None, help="JSON result (default <paths.reports>/bench/serving.json)")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(args.conf, args.overrides)

    import tensorflow as tf

    from wce_spark.train.export import LOGIT_SIGNATURE, SIGNATURE

    model_dir = args.model or export_fresh_model(cfg, os.path.join(args.workdir, "model"))
    loaded = tf.saved_model.load(model_dir)
    if LOGIT_SIGNATURE not in loaded.signatures:
        raise SystemExit(f"{NAME}: {model_dir} has no '{LOGIT_SIGNATURE}' signature (exported before it existed)")
    signatures = {"decoded": loaded.signatures[SIGNATURE], "logit": loaded.signatures[LOGIT_SIGNATURE]}
    _, specs = signatures["decoded"].structured_input_signature
    dtypes = {name: spec.dtype for name, spec in specs.items()}
    log(f"model {model_dir}; inputs {sorted(dtypes)}; load average {os.getloadavg()[0]:.1f}")

    rng = np.random.default_rng(1)
    results = []
    for batch in args.batch_sizes:
        feeds = [random_batch(dtypes, batch, rng) for _ in range(8)]
        measure(signatures, feeds, 20)  # warm-up: first calls allocate and pick kernels
        t0 = time.perf_counter()
        measure(signatures, feeds, 10)  # sizes the run to --seconds
        per_pair = (time.perf_counter() - t0) / 10
        calls = max(50, int(args.seconds / per_pair))
        times = measure(signatures, feeds, calls)
        row = {"batch": batch, "calls": calls}
        for name, ts in times.items():
            ms = np.array(ts) * 1000.0
            row[name] = {"p50_ms": round(float(np.percentile(ms, 50)), 4),
                         "p99_ms": round(float(np.percentile(ms, 99)), 4),
                         "rows_per_s": round(batch * len(ts) / sum(ts), 1)}
        paired = [d - lg for d, lg in zip(times["decoded"], times["logit"])]
        row["decode_cost"] = round(statistics.median(paired) / statistics.median(times["decoded"]), 4)
        results.append(row)
        log(json.dumps(row))

    meta = {"model": model_dir, "tensorflow": tf.__version__, "python": platform.python_version(),
            "cores": os.cpu_count(), "command": " ".join(sys.argv),
            "load_average_1_5_15_at_end": [round(x, 1) for x in os.getloadavg()]}
    print(f"\n{'batch':>6} {'signature':>10} {'p50 ms':>9} {'p99 ms':>9} {'rows/s':>11}   decode cost")
    for row in results:
        for name in ("decoded", "logit"):
            r = row[name]
            cost = f"{100 * row['decode_cost']:.1f}%" if name == "decoded" else ""
            print(f"{row['batch']:>6} {name:>10} {r['p50_ms']:>9.3f} {r['p99_ms']:>9.3f} {r['rows_per_s']:>11,.0f}   {cost}")
    out = args.out or os.path.join(cfg["paths.reports"], "bench", "serving.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as fh:
        json.dump({"results": results, "meta": meta}, fh, indent=2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
