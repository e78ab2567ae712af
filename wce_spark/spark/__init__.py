"""The Spark side: session factory, build_samples transforms, Delta I/O. Never imports TensorFlow."""
