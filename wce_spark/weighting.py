"""The WCE weight functions and their inverses: written once, evaluated on any backend.

An impression with watch time ``wt`` seconds becomes a positive with weight ``w = weight(wt)`` and a
negative with weight 1. Weighted logloss is minimised at ``odds = p / (1 - p) = E[w | x]``, so serving
decodes the odds back to seconds with ``inverse(odds)``.

| fn           | w(wt)              | inverse(odds)          | p = 1/2 (odds 1) means |
|--------------|--------------------|------------------------|------------------------|
| `log2`       | log2(wt + 1)       | 2^odds - 1             | 1 s                    |
| `log2_plus1` | log2(wt + 1) + 1   | 2^(odds - 1) - 1       | 0 s (and p >= 1/2)     |
| `linear`     | wt                 | odds                   | 1 s                    |

The formulas take an ``ops`` object with ``log2``, ``exp2`` and ``clip_min0``; the NumPy ops live here,
the Spark ops in ``wce_spark.spark.columns`` and the TensorFlow ops in ``wce_spark.train.decode``, so
the Spark job and the exported graph share this one definition (a test checks that they agree).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WeightFn:
    """w = log2(wt + 1) + offset when ``logarithmic``, else w = wt + offset."""

    name: str
    logarithmic: bool
    offset: float


WEIGHT_FNS: dict[str, WeightFn] = {
    "log2": WeightFn("log2", logarithmic=True, offset=0.0),
    "log2_plus1": WeightFn("log2_plus1", logarithmic=True, offset=1.0),
    "linear": WeightFn("linear", logarithmic=False, offset=0.0),
}


def get_weight_fn(name: str) -> WeightFn:
    try:
        return WEIGHT_FNS[name]
    except KeyError:
        raise ValueError(f"unknown weight.fn {name!r}; expected one of {sorted(WEIGHT_FNS)}") from None


class NumpyOps:
    """Ops for Python floats and NumPy arrays (imported lazily: nothing heavy at import time)."""

    @staticmethod
    def log2(x: Any) -> Any:
        import numpy as np

        return np.log2(x)

    @staticmethod
    def exp2(x: Any) -> Any:
        import numpy as np

        return np.exp2(x)

    @staticmethod
    def clip_min0(x: Any) -> Any:
        import numpy as np

        return np.maximum(x, 0.0)


def weight(watch_time_s: Any, fn: WeightFn | str, ops: Any = NumpyOps) -> Any:
    """The positive's weight for a watch time in seconds (``watch_time_s`` >= 0)."""
    fn = get_weight_fn(fn) if isinstance(fn, str) else fn
    base = ops.log2(watch_time_s + 1.0) if fn.logarithmic else watch_time_s
    return base + fn.offset if fn.offset else base


def inverse(odds: Any, fn: WeightFn | str, ops: Any = NumpyOps) -> Any:
    """Watch time in seconds decoded from odds = E[w | x]; never below 0."""
    fn = get_weight_fn(fn) if isinstance(fn, str) else fn
    shifted = odds - fn.offset if fn.offset else odds
    decoded = ops.exp2(shifted) - 1.0 if fn.logarithmic else shifted
    return ops.clip_min0(decoded)

