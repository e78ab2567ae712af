"""The quality gate: publish a candidate only when all its outputs are finite and its XAUC on the holdout
is not worse than the published model's by more than ``retrain.tolerance``."""
from __future__ import annotations

import math
from dataclasses import dataclass

# Metrics that must be finite numbers for a model to be servable (a NaN anywhere shows up in them).
FINITE_METRICS = ("mae", "rmse", "xauc", "mean_predicted", "mean_odds")


@dataclass(frozen=True)
class Decision:
    publish: bool
    reason: str


def nonfinite_problem(result: dict) -> str | None:
    """Why a model's evaluation shows non-finite outputs, or None when everything is finite."""
    bad = result.get("nonfinite_predictions", 0)
    if bad:
        return f"{bad:,} of {result['n']:,} holdout predictions are NaN or infinite"
    names = [k for k in FINITE_METRICS if not _finite(result.get(k))]
    if names:
        return f"non-finite {', '.join(names)}"
    return None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def decide(candidate: dict, published: dict | None, tolerance: float) -> Decision:
    """``candidate`` and ``published``: evaluate_frame results on the same holdout rows (``published``
    None when nothing is published or it could not be scored)."""
    problem = nonfinite_problem(candidate)
    if problem:
        return Decision(False, f"candidate has non-finite outputs: {problem}")
    if published is None:
        return Decision(True, f"no published model to compare with; candidate outputs are finite "
                              f"(XAUC {candidate['xauc']:.4f})")
    if nonfinite_problem(published) is not None:
        return Decision(True, f"published model has non-finite outputs ({nonfinite_problem(published)}); "
                              f"candidate is finite (XAUC {candidate['xauc']:.4f})")
    floor = published["xauc"] - tolerance
    verdict = (f"candidate XAUC {candidate['xauc']:.4f} vs published {published['xauc']:.4f} "
               f"(tolerance {tolerance:g}, floor {floor:.4f})")
    if candidate["xauc"] >= floor:
        return Decision(True, verdict + ": not worse")
    return Decision(False, verdict + ": worse beyond tolerance")
