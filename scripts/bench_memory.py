"""Peak resident memory of a job: run a command and sample the RSS of its whole process tree.

In Spark local mode the executors live inside the driver's JVM, which the Python driver starts as a
child process; Petastorm's reader and TensorFlow live in the Python process. So the job's footprint is
the Python process plus its JVM (plus any worker processes), sampled together every --interval seconds.
The peak of the sum is what the machine must hold; the per-kind peaks say where it goes.

  .venv/bin/python scripts/bench_memory.py --name train_4m --out /tmp/bench/memory_train.json -- \\
      .venv/bin/python jobs/train.py --conf conf/local.yaml --date 2026-03-01 --set paths.lake=...

Prints a table and writes JSON (--out). Exit code: the command's (0 when stopped by --max-seconds).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import psutil

MIB = 1 << 20


def kind(proc: psutil.Process) -> str:
    try:
        name = proc.name()
    except psutil.NoSuchProcess:
        return "gone"
    return "jvm" if name.startswith("java") else "python" if name.startswith("python") else "other"


def tree_rss(root: psutil.Process) -> dict[str, int]:
    """RSS in bytes per process kind over ``root`` and its descendants."""
    out: dict[str, int] = {}
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for proc in procs:
        try:
            rss = proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
        out[kind(proc)] = out.get(kind(proc), 0) + rss
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="what is measured (a label in the table and JSON)")
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--out", required=True, help="JSON result")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="stop the command after this long (the peak so far is reported, marked stopped_early)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the command to measure after --")

    t0 = time.monotonic()
    child = subprocess.Popen(command)
    root = psutil.Process(child.pid)
    peaks: dict[str, int] = {}
    peak_total, loads, stopped_early = 0, [], False
    while child.poll() is None:
        if args.max_seconds is not None and time.monotonic() - t0 > args.max_seconds:
            for proc in [*root.children(recursive=True), root]:
                try:
                    proc.terminate()
                except psutil.NoSuchProcess:
                    pass
            child.wait()
            stopped_early = True
            break
        rss = tree_rss(root)
        for k, v in rss.items():
            peaks[k] = max(peaks.get(k, 0), v)
        peak_total = max(peak_total, sum(rss.values()))
        loads.append(os.getloadavg()[0])
        time.sleep(args.interval)
    wall = time.monotonic() - t0
    result = {"name": args.name, "command": " ".join(command), "exit_code": child.returncode,
              "stopped_early": stopped_early,
              "wall_s": round(wall, 1), "peak_total_mib": peak_total // MIB,
              "peak_by_kind_mib": {k: v // MIB for k, v in sorted(peaks.items())},
              "load_avg_mean": round(sum(loads) / len(loads), 1) if loads else None,
              "load_avg_max": round(max(loads), 1) if loads else None,
              "ram_gib": round(psutil.virtual_memory().total / (1 << 30), 1), "cores": os.cpu_count()}
    print(f"\n{'job':>14} {'wall s':>8} {'peak sum MiB':>13} " + " ".join(f"{k + ' MiB':>11}" for k in sorted(peaks))
          + f" {'load mean':>10}")
    print(f"{args.name:>14} {result['wall_s']:>8} {result['peak_total_mib']:>13} "
          + " ".join(f"{v // MIB:>11}" for _, v in sorted(peaks.items())) + f" {str(result['load_avg_mean']):>10}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    print(f"wrote {args.out}")
    return 0 if stopped_early else child.returncode


if __name__ == "__main__":
    sys.exit(main())
