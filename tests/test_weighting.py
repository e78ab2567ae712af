"""The single weight formula and its inverse (NumPy ops); the Spark and TF sides are checked elsewhere."""
from __future__ import annotations

import math

import numpy as np
import pytest

from wce_spark import weighting


@pytest.mark.parametrize("fn,wt,w", [
    ("log2", 0.0, 0.0), ("log2", 1.0, 1.0), ("log2", 7.0, 3.0),
    ("log2_plus1", 0.0, 1.0), ("log2_plus1", 3.0, 3.0),
    ("linear", 0.0, 0.0), ("linear", 12.5, 12.5),
])
def test_weight_values(fn, wt, w):
    assert weighting.weight(wt, fn) == pytest.approx(w)


@pytest.mark.parametrize("fn", sorted(weighting.WEIGHT_FNS))
def test_inverse_round_trip(fn):
    wt = np.array([0.0, 0.5, 1.0, 3.0, 30.0, 3600.0])
    assert np.allclose(weighting.inverse(weighting.weight(wt, fn), fn), wt)


def test_decode_boundaries():
    # p = 1/2 is odds 1: one second under log2, zero seconds under log2_plus1 (whose odds are >= 1).
    assert weighting.inverse(1.0, "log2") == pytest.approx(1.0)
    assert weighting.inverse(1.0, "log2_plus1") == pytest.approx(0.0)
    assert weighting.inverse(0.5, "log2_plus1") == 0.0  # below its range: clipped, never negative
    assert weighting.inverse(-3.0, "linear") == 0.0


def test_unknown_fn():
    with pytest.raises(ValueError, match="unknown weight.fn 'cube'"):
        weighting.weight(1.0, "cube")
    assert math.isfinite(weighting.weight(1e9, "log2"))
