"""The TensorFlow side: Petastorm reader, feature spec, DeepFM, WCE losses, training loop, export.

Never imports pyspark at import time (only ``loop.train_day`` starts Spark, to resolve the snapshot).
Entry points: ``loop.train_model(cfg, day, files)`` and ``loop.train_day(cfg, day)``.
"""
