"""wce-spark: watch-time modelling with Weighted Cross-Entropy (WCE).

Rooms: ``weighting`` (the weight formula, once), ``config`` (YAML + overrides), ``spark`` (session,
build_samples transforms), ``synth`` (synthetic logs), ``lake`` (Delta snapshots), ``train`` (DeepFM,
losses, export), ``evaluate`` (metrics, plots), ``pipeline`` (daily retrain).
"""
__version__ = "0.1.0"
