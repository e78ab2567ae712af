"""Multi-worker training (``train.num_workers`` = N > 1): N TensorFlow workers in one Spark barrier stage.

The driver checks what it can before anything starts (table against conf, at least N files, N task
slots), prepares the run state the workers resume from (``loop.prepare_run_dir``) and runs
``rdd.barrier().mapPartitions`` over N partitions, one per TF worker. Each barrier task:

1. takes its partition id as the worker index, picks a free port and learns every task's ``host:port``
   through ``BarrierTaskContext.allGather`` (host: its executor's address in ``getTaskInfos``); the list,
   in partition order, is TF_CONFIG's cluster;
2. runs the TF worker in a fresh child process (``python -m wce_spark.train.distributed SCRATCH``): TF's
   collective runtime can be set up only once per process, PySpark reuses its Python workers across
   tasks, and the child's memory goes when it ends;
3. forwards the child's output, each line prefixed ``[train worker i/N]``, to its own stderr, i.e. the
   executor's stderr log (Spark UI, Executors tab; in local mode the driver's console);
4. returns the child's result: its rows, steps and passes over its shard.

The child runs ``loop.train_model`` under MultiWorkerMirroredStrategy as ``loop.Worker(index, N)``: its own
Petastorm shard (cur_shard=index, shard_count=N), train.batch_size / N rows per step, and the same fixed
number of steps per epoch as every other worker. The chief (index 0) exports the SavedModel with
model_meta.json; the others write what TF has them write into a scratch folder deleted afterwards.

Failures: the loss is all-reduced, so a NaN is seen by every worker at the same step; they all stop with
TrainingDiverged before the export and the driver raises it. Any other failure of a child fails its task
with the child's message; Spark kills the stage's other tasks (their children die with them,
PR_SET_PDEATHSIG) and fails the job, after retrying the whole stage on a cluster
(``spark.stage.maxConsecutiveAttempts``). The driver raises one line naming the worker and its error.

Nothing here imports TensorFlow or pyspark at module level: the barrier tasks import this module and
must stay light; TensorFlow lives in the child (and in the driver, for the run state).
"""
from __future__ import annotations

import collections
import ctypes
import datetime as dt
import json
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from typing import Iterator

from wce_spark import storage
from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.lake.snapshot import SnapshotFiles

SPEC_FILE, RESULT_FILE = "spec.pkl", "result.json"
FAILED = "WCE_TRAIN_WORKER_FAILED"  # marks a worker's error inside Spark's exception text
SLOTS_WAIT_S = 120  # how long the driver waits for executors to offer N task slots
TAIL_LINES = 20


def train_with_spark(spark, cfg: Config, day: dt.date, files: SnapshotFiles, *, deterministic: bool = False,
                     export_dir: str | None = None) -> dict:
    """Train and export: in this process (``train.num_workers`` = 1, ``loop.train_model``) or with N
    workers in one barrier stage. Returns the run summary, as ``loop.train_model`` does."""
    from wce_spark.train import loop

    if cfg["train.num_workers"] == 1:
        return loop.train_model(cfg, day, files, deterministic=deterministic, export_dir=export_dir)
    return train_distributed(spark, cfg, day, files, deterministic=deterministic, export_dir=export_dir)


def train_distributed(spark, cfg: Config, day: dt.date, files: SnapshotFiles, *, deterministic: bool = False,
                      export_dir: str | None = None) -> dict:
    """``train.num_workers`` TF workers in one barrier stage; the summary adds ``workers`` (each one's rows,
    steps, passes over its shard and seconds) and is written to ``<paths.reports>/train/<day>.json``."""
    from wce_spark.train import loop
    from wce_spark.train.features import FeatureSpec
    from wce_spark.train.model import model_config

    started = time.time()
    count = cfg["train.num_workers"]
    loop.check_samples(cfg, files)
    if len(files.files) < count:
        raise UserError(f"train.num_workers={count}, but the window's snapshot has {len(files.files)} file(s): "
                        "each worker reads its own row groups, so lower train.num_workers")
    if cfg["train.batch_size"] < count:
        raise UserError(f"train.batch_size={cfg['train.batch_size']} is the batch over all workers: it must be "
                        f"at least train.num_workers={count}")
    sc = spark.sparkContext
    _wait_for_task_slots(sc, count)
    paths = loop.RunPaths.for_day(cfg, day)
    if export_dir:
        paths = replace(paths, export_dir=export_dir)
    config = model_config(cfg, FeatureSpec.from_config(cfg))
    loop.prepare_run_dir(paths.run_dir, loop.run_fingerprint(cfg, files, config))  # what every worker resumes

    payload = pickle.dumps({"cfg": cfg, "day": day, "files": files, "export_dir": paths.export_dir,
                            "deterministic": deterministic})
    loop.log(f"{count} TF workers in one Spark barrier stage; their progress lines go to the executors' "
             "stderr, prefixed [train worker i/N]")
    sc.setJobDescription(f"train {day}: {count} TensorFlow workers")
    try:
        raw = sc.parallelize(range(count), count).barrier().mapPartitions(lambda _: _barrier_task(payload)).collect()
    except Exception as exc:  # noqa: BLE001 - Spark wraps the worker's error; raise it as one line
        raise _worker_failure(exc) from None
    finally:
        sc.setJobDescription(None)

    results = sorted((json.loads(r) for r in raw), key=lambda r: r["index"])
    diverged = [r for r in results if "error" in r]
    if diverged:
        raise loop.TrainingDiverged(diverged[0]["message"])
    workers = [{"index": r["index"], **r["summary"]["worker"], "steps": r["summary"]["steps"],
                "seconds": r["summary"]["seconds"]} for r in results]
    summary = {k: v for k, v in results[0]["summary"].items() if k != "worker"}
    summary.update(workers=workers, seconds=round(time.time() - started, 3))
    storage.write_json_atomic(paths.report, summary)
    for w in workers:
        loop.log(f"worker {w['index']}/{count}: {w['rows']} rows of its shard ({w['shard_passes']} pass(es)), "
                 f"{w['steps']} steps of {w['batch_size']} rows, {w['seconds']:.1f}s")
    loop.log(f"exported {summary['model_dir']} (final loss {summary['final_loss']}); report {paths.report}")
    return summary


def _wait_for_task_slots(sc, count: int) -> None:
    """A barrier stage needs all its tasks running at once. Without enough slots Spark retries the job for
    minutes and then fails; executors of a cluster may still be registering, so wait a little first."""
    if sc.getConf().get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        raise UserError("train.num_workers > 1 runs a Spark barrier stage, which dynamic allocation does not "
                        "support: submit with --conf spark.dynamicAllocation.enabled=false and enough executors")
    jvm_sc = sc._jsc.sc()
    profile = jvm_sc.resourceProfileManager().defaultResourceProfile()
    deadline = time.time() + (0 if sc.master.startswith("local") else SLOTS_WAIT_S)
    while (slots := jvm_sc.maxNumConcurrentTasks(profile)) < count:
        if time.time() >= deadline:
            raise UserError(f"train.num_workers={count} needs {count} task slots at once (one per TF worker) but "
                            f"Spark offers {slots} (executor cores / spark.task.cpus): give the job more "
                            "executors or cores, or lower train.num_workers")
        time.sleep(2)


def _worker_failure(exc: Exception) -> Exception:
    """The first worker error inside Spark's exception as its own type (UserError or RuntimeError), one line."""
    found = re.search(rf"{FAILED}\[(\w+)\] (.*)", str(exc))
    if not found:
        return exc
    kind, message = found.groups()
    return (UserError if kind == "UserError" else RuntimeError)(message)


# --- in the barrier task (an executor's Python worker) ---------------------------------------------------

def _barrier_task(payload: bytes) -> Iterator[str]:
    from pyspark import BarrierTaskContext

    context = BarrierTaskContext.get()
    index, count = context.partitionId(), len(context.getTaskInfos())
    host = context.getTaskInfos()[index].address.rsplit(":", 1)[0]  # the executor's "host:port"
    addresses = context.allGather(f"{host}:{_free_port()}")  # in partition order
    tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
    scratch = tempfile.mkdtemp(prefix=f"wce-train-worker{index}-")
    try:
        with open(os.path.join(scratch, SPEC_FILE), "wb") as fh:
            fh.write(payload)
        tail = _run_child(scratch, tf_config, prefix=f"[train worker {index}/{count}] ")
        result = None
        if os.path.exists(os.path.join(scratch, RESULT_FILE)):
            with open(os.path.join(scratch, RESULT_FILE)) as fh:
                result = json.load(fh)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if result is None:
        raise RuntimeError(f"{FAILED}[RuntimeError] train worker {index}/{count} died without a result; its last "
                           f"lines: {' | '.join(tail)}")
    if result.get("error") not in (None, "TrainingDiverged"):  # diverged: all workers stop at the same step
        raise RuntimeError(f"{FAILED}[{result['error']}] train worker {index}/{count}: {result['message']}")
    yield json.dumps(result)


def _free_port() -> int:
    """A port free now; the child's TF server binds it a moment later (another process could take it first,
    which fails the stage with an address-in-use error, and a rerun picks new ports)."""
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Run in the child before exec: SIGKILL it when the task's process dies (Spark kills the other tasks
    of a barrier stage when one fails, and no TF worker may be left waiting for its peers)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _run_child(scratch: str, tf_config: dict, prefix: str) -> list[str]:
    """Run the TF worker to its end, its output forwarded line by line to stderr; return the last lines."""
    env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # incl. --py-files, added at run time
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    with subprocess.Popen([sys.executable, "-m", "wce_spark.train.distributed", scratch], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=scratch,
                          preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None) as child:
        for line in child.stdout:
            tail.append(line.rstrip())
            sys.stderr.write(prefix + line)
            sys.stderr.flush()
    return list(tail)


# --- in the child: one TF worker ---------------------------------------------------------------------------

def _worker_main(scratch: str) -> None:
    """Train as the worker TF_CONFIG names; write the result (summary or error) to ``scratch``."""
    import tensorflow as tf

    from wce_spark.train import loop

    tf_config = json.loads(os.environ["TF_CONFIG"])
    index, count = tf_config["task"]["index"], len(tf_config["cluster"]["worker"])
    try:
        with open(os.path.join(scratch, SPEC_FILE), "rb") as fh:
            spec = pickle.load(fh)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        summary = loop.train_model(spec["cfg"], spec["day"], spec["files"], deterministic=spec["deterministic"],
                                   export_dir=spec["export_dir"], strategy=strategy,
                                   worker=loop.Worker(index, count, scratch=os.path.join(scratch, "tf")))
        result = {"index": index, "summary": summary}
    except loop.TrainingDiverged as exc:
        result = {"index": index, "error": "TrainingDiverged", "message": str(exc)}
    except UserError as exc:
        result = {"index": index, "error": "UserError", "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the traceback goes to the log, the message to the driver
        traceback.print_exc()
        result = {"index": index, "error": "RuntimeError", "message": f"{type(exc).__name__}: {exc}"}
    with open(os.path.join(scratch, RESULT_FILE), "w") as fh:
        json.dump(result, fh, default=str)
    if result.get("error") in (None, "TrainingDiverged"):  # every worker got here, none is stuck mid-step
        _wait_for_every_worker(strategy)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # not a normal exit: TF's collective runtime threads can hold the interpreter's teardown


def _wait_for_every_worker(strategy) -> None:
    """An all-reduce as a barrier before exiting: the chief hosts TF's coordination service, and a worker
    still saving when the chief's process ends loses it (heartbeat errors, possibly before its result)."""
    import tensorflow as tf

    strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)


if __name__ == "__main__":
    _worker_main(sys.argv[1])
