"""Publishing a model: (1) move the complete candidate folder to a fresh, never-reused name under
``<paths.models>``, then (2) replace the one-line ``<paths.models>/latest`` pointer by a rename.

A crash between the two steps leaves ``latest`` naming the previous complete model (the moved folder is
simply not served yet); published folders are never deleted or overwritten. Works on any filesystem
``tf.io.gfile`` knows (local, HDFS); the pointer goes through ``wce_spark.storage``.
"""
from __future__ import annotations

import datetime as dt
import os

import tensorflow as tf

from wce_spark import storage

LATEST = "latest"
CANDIDATES = "_candidates"


def latest_path(models_root: str) -> str:
    return f"{models_root.rstrip('/')}/{LATEST}"


def read_latest(models_root: str) -> str | None:
    """The published model's folder name, or None when nothing was published yet."""
    pointer = latest_path(models_root)
    if not storage.exists(pointer):
        return None
    return storage.read_text(pointer).strip() or None


def model_dir(models_root: str, name: str) -> str:
    return f"{models_root.rstrip('/')}/{name}"


def candidate_dir(models_root: str, day: dt.date, run_id: str) -> str:
    """Where a run trains its candidate: never a folder that is or was served."""
    return f"{models_root.rstrip('/')}/{CANDIDATES}/{day.isoformat()}-{run_id}"


def fresh_name(models_root: str, day: dt.date) -> str:
    """``<D>``, or ``<D>.<k>`` with the smallest k >= 1 not taken (a rerun of the date)."""
    name, k = day.isoformat(), 0
    while tf.io.gfile.exists(model_dir(models_root, name)):
        k += 1
        name = f"{day.isoformat()}.{k}"
    return name


def move_into_place(staging_dir: str, models_root: str, day: dt.date) -> str:
    """Step 1: rename the complete candidate to a fresh folder; returns its name."""
    name = fresh_name(models_root, day)
    tf.io.gfile.rename(staging_dir.rstrip("/"), model_dir(models_root, name), overwrite=False)
    return name


def point_latest(models_root: str, name: str) -> None:
    """Step 2: ``latest`` now names ``name`` (temp file + rename: readers see the old or the new line)."""
    storage.write_text_atomic(latest_path(models_root), name + "\n")


def publish(staging_dir: str, models_root: str, day: dt.date) -> str:
    """Both steps; returns the published folder's name."""
    if not tf.io.gfile.exists(os.path.join(staging_dir, "saved_model.pb")):
        raise RuntimeError(f"refusing to publish {staging_dir}: it holds no SavedModel")
    name = move_into_place(staging_dir, models_root, day)
    point_latest(models_root, name)
    return name
