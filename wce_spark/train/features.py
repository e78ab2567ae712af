"""The feature spec: which sample columns the model reads and how, straight from the conf.

``features.sparse`` lists id-like columns ``{name, buckets}`` (hashed to ``buckets`` inside the model);
``features.dense`` lists numeric columns ``{name, transform}`` (transformed inside the model). A new
column in the samples becomes a feature by adding it to the conf: no code changes. Pure Python, so the
spec can be checked and stored (model_meta.json) without TensorFlow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wce_spark.config import Config
from wce_spark.errors import UserError

# How a dense column becomes a model input (all inside the graph, so serving cannot skew).
DENSE_TRANSFORMS = ("identity", "log1p")

# CONTRACT "exported model": the signature accepts at least these, whether or not the conf uses them.
SERVING_COLUMNS = ("user_id", "video_id", "author_id", "video_duration_s", "hour")

LABEL = "label"
WEIGHT = "weight"
IMPRESSION_ID = "impression_id"  # the samples key: scheme B's two rows of one impression share it


@dataclass(frozen=True)
class SparseFeature:
    name: str
    buckets: int


@dataclass(frozen=True)
class DenseFeature:
    name: str
    transform: str


@dataclass(frozen=True)
class FeatureSpec:
    sparse: tuple[SparseFeature, ...]
    dense: tuple[DenseFeature, ...]

    @property
    def columns(self) -> list[str]:
        """Sample columns the model reads, in spec order."""
        return [f.name for f in self.sparse] + [f.name for f in self.dense]

    def serving_columns(self) -> list[str]:
        """The feature columns plus the contract's minimum, in a stable order."""
        return self.columns + [c for c in SERVING_COLUMNS if c not in self.columns]

    def to_json(self) -> dict[str, Any]:
        return {"sparse": [{"name": f.name, "buckets": f.buckets} for f in self.sparse],
                "dense": [{"name": f.name, "transform": f.transform} for f in self.dense]}

    @classmethod
    def from_json(cls, tree: dict[str, Any], origin: str = "features") -> "FeatureSpec":
        sparse = tuple(_sparse(item, f"{origin}.sparse") for item in _entries(tree.get("sparse"), f"{origin}.sparse"))
        dense = tuple(_dense(item, f"{origin}.dense") for item in _entries(tree.get("dense"), f"{origin}.dense"))
        names = [f.name for f in sparse] + [f.name for f in dense]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UserError(f"{origin}: column(s) listed twice: {', '.join(dupes)}")
        clash = {LABEL, WEIGHT} & set(names)
        if clash:
            raise UserError(f"{origin}: {', '.join(sorted(clash))} is the training target, not a feature")
        if not sparse:
            raise UserError(f"{origin}.sparse: at least one id column is needed (the FM/DNN fields)")
        return cls(sparse, dense)

    @classmethod
    def from_config(cls, cfg: Config) -> "FeatureSpec":
        return cls.from_json({"sparse": cfg["features.sparse"], "dense": cfg["features.dense"]})


def _entries(value: Any, origin: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UserError(f"{origin}: expected a list of mappings, got {value!r}")
    return value


def _name(item: Any, origin: str, keys: set[str]) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise UserError(f"{origin}: each entry needs a non-empty 'name', got {item!r}")
    unknown = set(item) - keys
    if unknown:
        raise UserError(f"{origin}: entry {item['name']!r} has unknown key(s) {', '.join(sorted(unknown))}")
    return item["name"]


def _sparse(item: Any, origin: str) -> SparseFeature:
    name = _name(item, origin, {"name", "buckets"})
    buckets = item.get("buckets")
    if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
        raise UserError(f"{origin}: {name!r} needs 'buckets', a positive integer; got {buckets!r}")
    return SparseFeature(name, buckets)


def _dense(item: Any, origin: str) -> DenseFeature:
    name = _name(item, origin, {"name", "transform"})
    transform = item.get("transform", "identity")
    if transform not in DENSE_TRANSFORMS:
        raise UserError(f"{origin}: {name!r} has transform {transform!r}; expected one of {', '.join(DENSE_TRANSFORMS)}")
    return DenseFeature(name, transform)
