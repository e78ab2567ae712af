"""Configuration: a YAML file under conf/, then ``--set dotted.key=value`` overrides, type-checked.

Every key the system knows is declared once in ``SCHEMA`` with its type, default and allowed values.
A file or override that names an unknown key, or gives a value of the wrong type, raises
``ConfigError`` with a one-line message; jobs print it and exit non-zero before touching any data.
"""
from __future__ import annotations

import copy
import datetime
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import yaml

from wce_spark.errors import UserError


class ConfigError(UserError):
    """A config file or override is invalid."""


@dataclass(frozen=True)
class Key:
    type: type | tuple[type, ...]
    default: Any
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], bool] | None = None
    rule: str = ""  # what ``check`` requires, for the error message
    doc: str = ""


def _positive(v: Any) -> bool:
    return v > 0


def _non_negative(v: Any) -> bool:
    return v >= 0


def _fraction(v: Any) -> bool:
    return 0 <= v < 1


NUMBER = (int, float)

SCHEMA: dict[str, Key] = {
    # Spark
    "spark.master": Key(str, "local[2]", doc="master URL for local runs; ignored under spark-submit"),
    "spark.app_name": Key(str, "wce-spark"),
    "spark.shuffle_partitions": Key(int, 8, check=_positive, rule="> 0",
                                    doc="spark.sql.shuffle.partitions: size it for the data"),
    "spark.driver_memory": Key(str, "4g", doc="local runs only; spark-submit sets its own"),
    "spark.extra": Key(dict, {}, doc="any other Spark settings, passed through as-is"),
    # Paths
    "paths.impressions": Key(str, "./data/raw/impressions", doc="root of the raw impression log"),
    "paths.playbacks": Key(str, "./data/raw/playbacks", doc="root of the raw playback log"),
    "paths.truth": Key(str, "./data/raw/truth", doc="generator's known E[w | x] per impression"),
    "paths.lake": Key(str, "./data/lake", doc="root of the Delta tables"),
    "paths.models": Key(str, "./data/models", doc="root of exported models"),
    "paths.reports": Key(str, "./data/reports", doc="root of run reports and plots"),
    # Samples
    "samples.mode": Key(str, "duplicated", choices=("duplicated", "weighted"),
                        doc="duplicated: positive (w) + negative (1) rows; weighted: one row, loss adds the negative"),
    "weight.fn": Key(str, "log2", choices=("log2", "log2_plus1", "linear")),
    "watch_time.lookahead_hours": Key(NUMBER, 6, check=_non_negative, rule=">= 0"),
    "watch_time.cap_s": Key(NUMBER, 3600, check=_positive, rule="> 0"),
    # Synthetic logs
    "synth.start_date": Key(str, "2026-03-01", doc="first generated day"),
    "synth.days": Key(int, 7, check=_positive, rule="> 0"),
    "synth.impressions_per_day": Key(int, 20000, check=_positive, rule="> 0"),
    "synth.users": Key(int, 2000, check=_positive, rule="> 0"),
    "synth.videos": Key(int, 5000, check=_positive, rule="> 0"),
    "synth.authors": Key(int, 500, check=_positive, rule="> 0"),
    "synth.seed": Key(int, 7),
    "synth.dirty_fraction": Key(NUMBER, 0.01, check=_fraction, rule="in [0, 1)",
                                doc="share of rows per bad case injected by --dirty"),
    # Features and model
    "features.sparse": Key(list, [
        {"name": "user_id", "buckets": 100003},
        {"name": "video_id", "buckets": 100003},
        {"name": "author_id", "buckets": 20011},
        {"name": "hour", "buckets": 24},
    ], doc="id-like columns hashed to buckets inside the model"),
    "features.dense": Key(list, [
        {"name": "video_duration_s", "transform": "log1p"},
    ], doc="numeric columns, transformed inside the model"),
    "model.embedding_dim": Key(int, 16, check=_positive, rule="> 0"),
    "model.hidden_units": Key(list, [64, 32]),
    "model.dropout": Key(NUMBER, 0.1, check=_fraction, rule="in [0, 1)"),
    "model.l2": Key(NUMBER, 1e-6, check=_non_negative, rule=">= 0"),
    # Training
    "train.days": Key(int, 7, check=_positive, rule="> 0"),
    "train.epochs": Key(int, 2, check=_positive, rule="> 0"),
    "train.batch_size": Key(int, 1024, check=_positive, rule="> 0"),
    "train.learning_rate": Key(NUMBER, 0.002, check=_positive, rule="> 0"),
    "train.shuffle_buffer": Key(int, 20000, check=_non_negative, rule=">= 0"),
    "train.shuffle_unit": Key(str, "row", choices=("row", "impression"),
                              doc="what the shuffle moves: single rows, or all rows of an impression together "
                                  "(scheme B's two copies then share a batch)"),
    "train.seed": Key(int, 42),
    "train.num_workers": Key(int, 1, check=_positive, rule="> 0"),
    "train.reader_workers": Key(int, 2, check=_positive, rule="> 0"),
    "train.warm_start": Key(str, "", doc="model directory to start from, or 'latest' (the published "
                                           "model, if any); empty: none"),
    # Evaluation and the daily job
    "evaluate.xauc_max_pairs": Key(int, 500_000_000_000, check=_positive, rule="> 0",
                                   doc="exact XAUC up to this many pairs (~1M rows), sampled above"),
    "evaluate.seed": Key(int, 0),
    "retrain.holdout_fraction": Key(NUMBER, 0.1, check=_fraction, rule="in [0, 1)"),
    "retrain.tolerance": Key(NUMBER, 0.01, check=_non_negative, rule=">= 0"),
}


def _type_ok(value: Any, key: Key) -> bool:
    if isinstance(value, bool) and bool not in (key.type if isinstance(key.type, tuple) else (key.type,)):
        return False  # YAML's true/false must not pass as a number
    return isinstance(value, key.type)


def _type_name(key: Key) -> str:
    types = key.type if isinstance(key.type, tuple) else (key.type,)
    return " or ".join("number" if t is float else t.__name__ for t in types if not (t is int and float in types))


def _validate(name: str, value: Any, origin: str) -> Any:
    key = SCHEMA.get(name)
    if key is None:
        raise ConfigError(f"{origin}: unknown config key '{name}'")
    if not _type_ok(value, key):
        raise ConfigError(f"{origin}: '{name}' must be {_type_name(key)}, got {value!r}")
    if key.choices is not None and value not in key.choices:
        raise ConfigError(f"{origin}: '{name}' must be one of {', '.join(map(str, key.choices))}; got {value!r}")
    if key.check is not None and not key.check(value):
        raise ConfigError(f"{origin}: '{name}' must be {key.rule}; got {value!r}")
    return value


def _flatten(tree: Any, origin: str, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; stops at declared keys so dict-valued keys stay whole."""
    if not isinstance(tree, dict):
        raise ConfigError(f"{origin}: expected a mapping of config keys, got {type(tree).__name__}")
    flat: dict[str, Any] = {}
    for part, value in tree.items():
        name = f"{prefix}{part}"
        if name in SCHEMA or not isinstance(value, dict):
            flat[name] = value
        else:
            flat.update(_flatten(value, origin, f"{name}."))
    return flat


class Config:
    """Validated settings with dotted access: ``cfg["paths.lake"]``."""

    def __init__(self, values: dict[str, Any], source: str = "<defaults>"):
        self._values = values
        self.source = source

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            raise KeyError(f"unknown config key '{name}'")
        return self._values[name]

    def section(self, prefix: str) -> dict[str, Any]:
        """All keys under ``prefix.`` with the prefix removed."""
        return {k[len(prefix) + 1:]: v for k, v in self._values.items() if k.startswith(prefix + ".")}

    def with_overrides(self, overrides: dict[str, Any]) -> "Config":
        values = dict(self._values)
        for name, value in overrides.items():
            values[name] = _validate(name, value, "override")
        return Config(_absolute_paths(values), self.source)

    def as_dict(self) -> dict[str, Any]:
        """Nested plain dict (for reports and for shipping the conf to workers)."""
        nested: dict[str, Any] = {}
        for name, value in self._values.items():
            *parents, leaf = name.split(".")
            node = nested
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = copy.deepcopy(value)
        return nested


def parse_override(text: str) -> tuple[str, Any]:
    """'a.b=3' -> ('a.b', 3): the value is read as YAML, so numbers, lists and booleans keep their type."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ConfigError(f"--set {text!r}: expected dotted.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError):  # ValueError: YAML's date reading of e.g. 2026-13-01
        value = raw
    if isinstance(value, datetime.date):  # dates are configured as text (synth.start_date=2026-03-05)
        value = raw.strip()
    return name, value


def load_config(path: str | None, overrides: Iterable[str] = ()) -> Config:
    """Defaults, then the YAML file, then ``--set`` overrides; each value validated on the way in."""
    values = {name: copy.deepcopy(key.default) for name, key in SCHEMA.items()}
    source = "<defaults>"
    if path:
        # Under spark-submit --deploy-mode cluster the conf arrives via --files in the working directory.
        if not os.path.exists(path) and os.path.exists(os.path.basename(path)):
            path = os.path.basename(path)
        source = path
        try:
            with open(path, encoding="utf-8") as fh:
                tree = yaml.safe_load(fh) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}: not valid YAML{where}") from None
        for name, value in _flatten(tree, path).items():
            values[name] = _validate(name, value, path)
    for text in overrides:
        name, value = parse_override(text)
        values[name] = _validate(name, value, f"--set {name}")
    return Config(_absolute_paths(values), source)


def _absolute_paths(values: dict[str, Any]) -> dict[str, Any]:
    """Relative local ``paths.*`` are relative to the working directory (the repo root in the README's
    commands); made absolute once here, since Delta, Petastorm and Spark executors each resolve
    relative paths their own way (Delta's table builder rejects them outright)."""
    return {name: (os.path.abspath(value) if name.startswith("paths.") and value and "://" not in value
                   else value) for name, value in values.items()}
