"""Evaluation: metrics (NumPy), scoring through the serving signature (TensorFlow, loaded lazily),
plots and reports. ``frame.evaluate_frame`` works on pandas; ``day.evaluate_day`` reads a day with Spark."""
