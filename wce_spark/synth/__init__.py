"""Synthetic raw logs with a known E[w | x] per impression, and bad rows on demand (``--dirty``)."""
from wce_spark.synth.generator import generate_logs

__all__ = ["generate_logs"]
