"""Which model a candidate warm-starts from: the published one when it is compatible, else none (and why).

A rerun of a date (or a backfill going back) must not start from a model that already saw that date's
window, so a published model of a date >= D is followed back through the ``warm_start`` its
model_meta.json records, to the model the original run of those days started from.
"""
from __future__ import annotations

import datetime as dt
import os

from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.train.export import SHAPE_KEYS, read_meta
from wce_spark.train.features import FeatureSpec
from wce_spark.train.model import model_config


def incompatibility(cfg: Config, meta: dict) -> str | None:
    """What makes a model (its model_meta.json) unfit to warm-start this conf's model; None if fit."""
    spec = FeatureSpec.from_config(cfg)
    wanted = model_config(cfg, spec)
    differ = []
    if meta.get("features") != spec.to_json():
        differ.append("feature spec")
    if meta.get("weight_fn") != cfg["weight.fn"]:
        differ.append(f"weight.fn ({meta.get('weight_fn')} vs {cfg['weight.fn']})")
    if meta.get("samples_mode") != cfg["samples.mode"]:
        differ.append(f"samples.mode ({meta.get('samples_mode')} vs {cfg['samples.mode']})")
    model = meta.get("model", {})
    differ += [f"model {k}" for k in SHAPE_KEYS if k not in ("sparse", "dense") and model.get(k) != wanted[k]]
    return ", ".join(differ) or None


def choose_warm_start(cfg: Config, day: dt.date, published_dir: str | None) -> tuple[str | None, str]:
    """(model directory to warm-start from or None, the reason in words)."""
    if published_dir is None:
        return None, "cold start: nothing published yet"
    source = published_dir
    try:
        meta = read_meta(source)
        while dt.date.fromisoformat(meta["date"]) >= day:
            earlier = meta.get("warm_start")
            if not earlier:
                return None, (f"cold start: published model {os.path.basename(source)} is of "
                              f"{meta['date']} (>= {day}) and was itself trained from scratch")
            source = earlier
            meta = read_meta(source)
    except (UserError, KeyError, ValueError) as exc:
        return None, f"cold start: cannot read the metadata of {source} ({exc})"
    problem = incompatibility(cfg, meta)
    if problem:
        return None, f"cold start: {source} is incompatible with the conf ({problem} differ)"
    return source, f"warm start from {source}"
