"""Delta snapshots resolved to the plain Parquet files a non-Spark reader (Petastorm) may read."""
