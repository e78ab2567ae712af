"""Training (CONTRACT "train"): the samples of the window's live snapshot -> DeepFM -> SavedModel.

A custom loop (a ``tf.function`` step with ``GradientTape`` under ``strategy.run``) on tf_keras (Keras 2),
not Keras 3's ``model.fit``, because:
- multi-worker training (``train.num_workers`` > 1, ``distributed.py``) runs this same step under
  MultiWorkerMirroredStrategy, where Keras 3's ``model.fit`` is broken (keras-team/keras#20585); the step
  uses the strategy API (scope, run, reduce, ``compute_average_loss``), so a worker only adds a strategy,
  its reader shard and a fixed number of steps per epoch (``Worker``);
- Keras 3 layers keep weights held in Python lists out of ``tf.train.Checkpoint``'s object graph (a
  restored DeepFM silently kept fresh weights), while tf_keras tracks them, so ``CheckpointManager``
  resumes and warm starts from a SavedModel's variables work. tf_keras is imported by name, so no
  ``TF_USE_LEGACY_KERAS`` is needed and other code may use Keras 3 in the same process;
- the WCE losses are per row (losses.py) and a NaN loss must stop the run before anything is saved.

Run state: ``<paths.models>/.runs/<D>/`` holds the checkpoints of an unfinished run (one per epoch) and
the fingerprint of what it trains on; a rerun with the same fingerprint resumes after the last finished
epoch, any other starts afresh. Once the model is exported the run state is deleted. TensorBoard logs
go to ``<paths.reports>/train/<D>/tensorboard`` and the run summary to ``<paths.reports>/train/<D>.json``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator

import tensorflow as tf
import tf_keras as keras

from wce_spark import storage
from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.lake.snapshot import SnapshotFiles, samples_table
from wce_spark.train.export import export_model, serving_input_dtypes, warm_start
from wce_spark.train.features import IMPRESSION_ID, LABEL, WEIGHT, FeatureSpec
from wce_spark.train.losses import constant_logit, row_loss_for_mode
from wce_spark.train.model import DeepFM, model_config
from wce_spark.train.reader import HOLDOUT_BUCKETS, holdout_cutoff, open_dataset

LOG_EVERY_S = 10.0
EXAMPLE_ROWS = 2048  # read up front: input dtypes, the starting bias, and a check of the export


def log(message: str) -> None:
    print(f"train: {message}", flush=True)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; nothing was exported."""


@dataclass(frozen=True)
class RunPaths:
    export_dir: str
    run_dir: str
    tensorboard_dir: str
    report: str

    @classmethod
    def for_day(cls, cfg: Config, day: dt.date) -> "RunPaths":
        models = cfg["paths.models"].rstrip("/")
        reports = cfg["paths.reports"].rstrip("/")
        return cls(export_dir=f"{models}/{day.isoformat()}", run_dir=f"{models}/.runs/{day.isoformat()}",
                   tensorboard_dir=f"{reports}/train/{day.isoformat()}/tensorboard",
                   report=f"{reports}/train/{day.isoformat()}.json")


@dataclass(frozen=True)
class Worker:
    """This process's part in a run: the only worker (the default), or worker ``index`` of ``count`` in a
    Spark barrier stage (``distributed.py``) under MultiWorkerMirroredStrategy. Every worker trains on
    its own reader shard for the same number of steps (each step is a collective all-reduce), and only
    the chief (index 0) writes where users look. TF has every worker write checkpoints and the export
    (saving may run collective ops), so the others write theirs under ``scratch``, which their caller
    deletes."""

    index: int = 0
    count: int = 1
    scratch: str = ""

    @property
    def chief(self) -> bool:
        return self.index == 0

    @property
    def distributed(self) -> bool:
        return self.count > 1

    def writes(self, paths: RunPaths) -> RunPaths:
        """Where this worker writes: the real paths for the chief, its scratch folder for the others."""
        if self.chief:
            return paths
        return replace(paths, export_dir=f"{self.scratch}/export", run_dir=f"{self.scratch}/run",
                       tensorboard_dir=f"{self.scratch}/tensorboard", report=f"{self.scratch}/report.json")


def check_table_matches_conf(cfg: Config, files: SnapshotFiles) -> str:
    """The loss follows the table's samples mode; a conf that disagrees with the table is refused."""
    for what, recorded, key in (("samples mode", files.samples_mode, "samples.mode"),
                                ("weight function", files.weight_fn, "weight.fn")):
        if recorded is None:
            raise UserError(f"samples table {files.table} does not record its {what} (table property "
                            f"wce.{key}); rebuild it with build_samples")
        if recorded != cfg[key]:
            raise UserError(f"samples table {files.table} was built with {key}={recorded} but the conf "
                            f"says {cfg[key]}: use --set {key}={recorded}, or rebuild the table")
    return files.samples_mode


def check_samples(cfg: Config, files: SnapshotFiles) -> str:
    """The samples mode to train with, once the snapshot is known to hold rows made as the conf says."""
    mode = check_table_matches_conf(cfg, files)
    if not files.files:
        raise UserError(f"no samples in {files.table} (version {files.version}) for {files.start}..{files.end}: "
                        "run build_samples for those days first")
    return mode


def warm_start_dir(cfg: Config) -> str | None:
    """``train.warm_start``: '' (none), 'latest' (the published model, if any) or a model directory."""
    value = cfg["train.warm_start"].strip()
    if value != "latest":
        return value or None
    models = cfg["paths.models"].rstrip("/")
    pointer = f"{models}/latest"
    if not storage.exists(pointer):
        log(f"warm start: nothing published yet ({pointer} does not exist); training from scratch")
        return None
    return f"{models}/{storage.read_text(pointer).strip()}"


def _scalar(name: str, value: float, step: Any) -> None:
    """A TensorBoard scalar through the core summary op: ``tf.summary.scalar`` needs the tensorboard
    package, which the TF 2.21 wheels no longer install; TensorBoard reads these events the same way."""
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    tf.summary.write(name, tf.constant(value, tf.float32), step=step, metadata=metadata)


def make_train_step(model: DeepFM, optimizer: keras.optimizers.Optimizer, row_loss: Callable,
                    features: list[str], strategy: tf.distribute.Strategy) -> Callable:
    """One optimisation step on a batch; returns (sum of per-row losses, rows) over all replicas."""

    def replica_step(batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            logit = model({name: batch[name] for name in features}, training=True)
            per_row = row_loss(batch[LABEL], batch[WEIGHT], logit)
            loss = tf.nn.compute_average_loss(per_row)  # / global batch: right under any strategy
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return tf.reduce_sum(per_row), tf.cast(tf.size(per_row), tf.float32)

    @tf.function(reduce_retracing=True)
    def train_step(batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        loss_sum, rows = strategy.run(replica_step, args=(batch,))
        return (strategy.reduce(tf.distribute.ReduceOp.SUM, loss_sum, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, rows, axis=None))

    return train_step


def run_fingerprint(cfg: Config, files: SnapshotFiles, config: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint was trained on; resuming is only allowed onto the same (epochs may grow)."""
    return {"table": files.table, "version": files.version, "start": files.start.isoformat(),
            "end": files.end.isoformat(), "mode": files.samples_mode, "weight_fn": files.weight_fn,
            "model": config, "batch_size": cfg["train.batch_size"],
            "learning_rate": cfg["train.learning_rate"], "shuffle_buffer": cfg["train.shuffle_buffer"],
            "shuffle_unit": cfg["train.shuffle_unit"],
            "warm_start": cfg["train.warm_start"], "holdout_fraction": cfg["retrain.holdout_fraction"]}


def prepare_run_dir(run_dir: str, fingerprint: dict[str, Any]) -> bool:
    """True when ``run_dir`` holds checkpoints of this very run; otherwise it is reset for a new one."""
    stamp = f"{run_dir}/run.json"
    ckpt_dir = f"{run_dir}/checkpoints"
    if tf.io.gfile.exists(stamp) and tf.train.latest_checkpoint(ckpt_dir):
        with tf.io.gfile.GFile(stamp) as fh:
            if json.load(fh) == fingerprint:
                return True
        log(f"discarding checkpoints in {run_dir}: they belong to another snapshot or conf")
    if tf.io.gfile.exists(run_dir):
        tf.io.gfile.rmtree(run_dir)
    tf.io.gfile.makedirs(ckpt_dir)
    with tf.io.gfile.GFile(stamp, "w") as fh:
        fh.write(json.dumps(fingerprint, sort_keys=True, default=str))
    return False


def _remove_run_dir(run_dir: str) -> None:
    """The run is exported: its checkpoints are obsolete (and ``.runs`` too, once empty)."""
    tf.io.gfile.rmtree(run_dir)
    runs = run_dir.rstrip("/").rsplit("/", 1)[0]
    if not tf.io.gfile.listdir(runs):
        tf.io.gfile.rmtree(runs)


EpochHook = Callable[[int, DeepFM, dict], None]


def train_model(cfg: Config, day: dt.date, files: SnapshotFiles, *, deterministic: bool = False,
                export_dir: str | None = None, on_epoch_end: EpochHook | None = None,
                worker: Worker = Worker(), strategy: tf.distribute.Strategy | None = None) -> dict:
    """Train on ``files`` (the window's live snapshot) and export ``<paths.models>/<day>/`` (or ``export_dir``,
    e.g. the daily job's staging folder). Rows in the ``retrain.holdout_fraction`` holdout are never read.

    Returns the run summary (also in model_meta.json and ``<paths.reports>/train/<day>.json``).
    ``deterministic`` reads in file order with one thread, for reproducible tests. ``on_epoch_end(epoch, model,
    stats)`` is called after each finished epoch (stats: loss, rows, seconds), e.g. to record learning curves.
    ``worker`` and ``strategy``: one of several workers (``distributed.py``, which also writes the report and
    prepares the run state before the workers start); by default the only one, under the current strategy."""
    started = time.time()
    mode = check_samples(cfg, files)
    weight_fn = cfg["weight.fn"]
    spec = FeatureSpec.from_config(cfg)
    config = model_config(cfg, spec)
    paths = RunPaths.for_day(cfg, day)
    if export_dir:
        paths = replace(paths, export_dir=export_dir)
    out = worker.writes(paths)
    holdout_below = holdout_cutoff(cfg["retrain.holdout_fraction"])
    epochs, batch_size = cfg["train.epochs"], cfg["train.batch_size"]
    worker_batch = max(1, batch_size // worker.count)  # train.batch_size rows per step over all workers
    columns = spec.columns + [LABEL, WEIGHT]
    missing = files.missing_days()
    log(f"samples {files.table} version {files.version} ({mode}, weight.fn {weight_fn}): {len(files.files)} "
        f"files, {files.rows} rows, {files.start}..{files.end}"
        + (f"; no samples for {', '.join(missing)}" if missing else "")
        + (f"; holdout_bucket < {holdout_below} held out" if holdout_below else ""))

    keep_together = IMPRESSION_ID if cfg["train.shuffle_unit"] == "impression" else None

    def read(seed: int, size: int = worker_batch, shuffle: int = cfg["train.shuffle_buffer"],
             in_order: bool = deterministic, sharded: bool = True):
        shard = {"cur_shard": worker.index, "shard_count": worker.count} if worker.distributed and sharded else {}
        return open_dataset(files.urls, columns, size, shuffle_buffer=shuffle, seed=seed,
                            reader_workers=cfg["train.reader_workers"], deterministic=in_order,
                            holdout_below=holdout_below, keep_together=keep_together, **shard)

    # Every worker reads the same example rows (whole list, in file order), so all set the same bias.
    with read(seed=cfg["train.seed"], size=EXAMPLE_ROWS, shuffle=0, in_order=deterministic or worker.distributed,
              sharded=False) as ds:
        example = next(iter(ds))
    input_dtypes = serving_input_dtypes(spec, {name: t.dtype for name, t in example.items()})

    keras.utils.set_random_seed(cfg["train.seed"])
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = DeepFM(**config)
        model.build()
        optimizer = keras.optimizers.Adam(learning_rate=cfg["train.learning_rate"])
        optimizer.build(model.trainable_variables)  # slots exist before a restore fills them
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch)
    if not worker.distributed:  # several workers: distributed.py prepared it before they started
        prepare_run_dir(paths.run_dir, run_fingerprint(cfg, files, config))
    resume_from = tf.train.latest_checkpoint(f"{paths.run_dir}/checkpoints")  # every worker: the chief's
    manager = tf.train.CheckpointManager(checkpoint, f"{out.run_dir}/checkpoints", max_to_keep=2)
    warm_from = None
    if resume_from:
        checkpoint.restore(resume_from).assert_existing_objects_matched()
        log(f"resuming from {resume_from} after epoch {int(epoch.numpy())}/{epochs}")
    else:
        warm_from = warm_start_dir(cfg)
        if warm_from:
            warm_start(model, warm_from)
            log(f"warm start from {warm_from}")
        else:
            model.bias.assign(constant_logit(mode, example[LABEL], example[WEIGHT]))
    resumed_after = int(epoch.numpy())

    train_step = make_train_step(model, optimizer, row_loss_for_mode(mode), spec.columns, strategy)
    writer = tf.summary.create_file_writer(out.tensorboard_dir)
    train_rows = round(files.rows * (1 - holdout_below / HOLDOUT_BUCKETS))  # estimated: the holdout is hashed
    steps_per_epoch = max(1, math.ceil(train_rows / batch_size))
    shard_reads = ShardReads()
    epoch_losses: list[float] = []
    rows_trained, train_seconds = 0, 0.0
    for e in range(resumed_after, epochs):
        t0 = time.time()
        with _epoch_batches(read, strategy, worker, cfg["train.seed"] + e, steps_per_epoch, shard_reads) as batches:
            loss, rows = _run_epoch(train_step, batches, optimizer, writer, f"epoch {e + 1}/{epochs}",
                                    steps_per_epoch, fixed=worker.distributed)
        seconds = time.time() - t0
        epoch_losses.append(loss)
        rows_trained += rows
        train_seconds += seconds
        epoch.assign(e + 1)
        saved = manager.save(checkpoint_number=e + 1)
        with writer.as_default():
            _scalar("loss/epoch", loss, step=e + 1)
            _scalar("rows_per_s/epoch", rows / max(seconds, 1e-9), step=e + 1)
        log(f"epoch {e + 1}/{epochs} done: loss {loss:.5f}, {rows} rows in {seconds:.1f}s "
            f"({rows / max(seconds, 1e-9):.0f} rows/s); checkpoint {saved}")
        if on_epoch_end:
            on_epoch_end(e + 1, model, {"loss": loss, "rows": rows, "seconds": seconds})
    writer.flush()

    summary = {
        "date": day.isoformat(), "model_dir": paths.export_dir, "samples_mode": mode, "weight_fn": weight_fn,
        "window": {"start": files.start.isoformat(), "end": files.end.isoformat(), "days": cfg["train.days"]},
        "snapshot": files.describe(),
        "epochs": epochs, "resumed_after_epoch": resumed_after or None, "warm_start": warm_from,
        "epoch_losses": epoch_losses, "final_loss": epoch_losses[-1] if epoch_losses else None,
        "rows_trained": rows_trained, "train_seconds": round(train_seconds, 3),
        "rows_per_s": round(rows_trained / train_seconds, 1) if train_seconds else None,
        "steps": int(optimizer.iterations.numpy()), "num_workers": worker.count,
        "features": spec.to_json(), "model": model.get_config(),
        "train": {"batch_size": batch_size, "learning_rate": cfg["train.learning_rate"],
                  "shuffle_buffer": cfg["train.shuffle_buffer"], "shuffle_unit": cfg["train.shuffle_unit"],
                  "seed": cfg["train.seed"]},
        "tensorboard": paths.tensorboard_dir,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if worker.distributed:
        summary["worker"] = {"index": worker.index, "rows": shard_reads.rows, "shard_passes": shard_reads.passes,
                             "steps_per_epoch": steps_per_epoch, "batch_size": worker_batch}
    export_model(model, weight_fn, input_dtypes, out.export_dir, summary, example)
    summary["seconds"] = round(time.time() - started, 3)
    if not worker.chief:
        log(f"worker {worker.index} done: {shard_reads.rows} rows of its shard in {summary['steps']} steps")
        return summary
    _remove_run_dir(paths.run_dir)
    if not worker.distributed:  # several workers: distributed.py writes it with every worker's part
        storage.write_json_atomic(paths.report, summary)
    log(f"exported {paths.export_dir} (final loss {summary['final_loss']}); report {paths.report}")
    return summary


@dataclass
class ShardReads:
    """What a worker of several read of its shard: rows, and how many passes over it."""

    rows: int = 0
    passes: int = 0


@contextlib.contextmanager
def _epoch_batches(read: Callable, strategy: tf.distribute.Strategy, worker: Worker, seed: int, steps: int,
                   reads: ShardReads) -> Iterator[Iterable]:
    """One epoch's batches. The only worker makes one pass. A worker of several takes exactly ``steps``
    batches of its shard, reading it again (reshuffled) when it runs out first: shards are uneven, and a
    worker that stopped early would leave the others waiting in a collective."""
    if not worker.distributed:
        with read(seed) as ds:
            yield strategy.experimental_distribute_dataset(ds)
        return

    def shard_batches() -> Iterator[dict[str, tf.Tensor]]:
        for again in itertools.count():
            rows = 0
            reads.passes += 1
            with read(seed + 1000 * again) as ds:  # a new order on each pass of the same epoch
                for batch in ds:
                    n = int(tf.shape(batch[LABEL])[0])
                    rows += n
                    reads.rows += n
                    yield batch
            if not rows:
                raise RuntimeError(f"worker {worker.index}: its shard of the samples holds no training rows "
                                   "(fewer row groups than workers, or only holdout rows): lower train.num_workers")

    batches = shard_batches()
    try:
        yield itertools.islice(batches, steps)
    finally:
        batches.close()


def _run_epoch(train_step: Callable, dataset: Iterable, optimizer, writer, label: str,
               steps_expected: int, fixed: bool = False) -> tuple[float, int]:
    """Mean per-row loss and rows (over all workers) of one epoch; progress to stdout and TensorBoard every
    LOG_EVERY_S. ``steps_expected`` is exact when ``fixed``, else an estimate."""
    total_loss, total_rows, steps = 0.0, 0, 0
    window_loss, window_rows = 0.0, 0
    t0 = last = time.time()
    for batch in dataset:
        loss_sum, rows = train_step(batch)
        loss_sum, rows = float(loss_sum), int(rows)
        steps += 1
        if not math.isfinite(loss_sum):
            raise TrainingDiverged(f"{label} step {steps}: the loss is {loss_sum}; stopped, nothing exported "
                                   "(check the samples' weights, or lower train.learning_rate)")
        total_loss, total_rows = total_loss + loss_sum, total_rows + rows
        window_loss, window_rows = window_loss + loss_sum, window_rows + rows
        now = time.time()
        if now - last >= LOG_EVERY_S:
            with writer.as_default():
                _scalar("loss/train", window_loss / window_rows, step=optimizer.iterations)
            log(f"{label} step {steps}/{'' if fixed else '~'}{steps_expected}: loss {window_loss / window_rows:.5f}, "
                f"{total_rows / (now - t0):.0f} rows/s")
            window_loss, window_rows, last = 0.0, 0, now
    if not total_rows:
        raise UserError(f"{label}: the reader returned no rows")
    return total_loss / total_rows, total_rows


def train_day(cfg: Config, day: dt.date) -> dict:
    """The job: resolve the window's live snapshot with Spark, then train and export (``train_model``, or
    ``train.num_workers`` workers in a barrier stage)."""
    from wce_spark.lake.snapshot import resolve_snapshot, window
    from wce_spark.spark.session import get_spark
    from wce_spark.train.distributed import train_with_spark

    spark = get_spark(cfg, "train")
    files = resolve_snapshot(spark, samples_table(cfg), *window(day, cfg["train.days"]))
    return train_with_spark(spark, cfg, day, files)
