"""wce-spark: watch-time modelling with Weighted Cross-Entropy on Spark, Delta and TensorFlow."""
from setuptools import find_packages, setup

# The verified stack (see README "Stack"): petastorm 0.13.1 needs pyarrow 14 (legacy ParquetDataset),
# which needs numpy < 2 and pandas < 3. Pinned exactly so every machine trains the same way.
INSTALL_REQUIRES = [
    "pyspark==4.0.1",
    "delta-spark==4.0.1",
    "pyarrow==14.0.2",
    "numpy==1.26.4",
    "pandas==2.2.3",
    "petastorm==0.13.1",
    "tensorflow-cpu==2.21.0",
    "tf-keras==2.21.0",
    "pyyaml==6.0.2",
    "matplotlib==3.9.4",
    "fsspec==2026.9.0",
]

setup(
    name="wce_spark",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["wce_spark", "wce_spark.*"]),
    package_data={"wce_spark.spark": ["log4j2.properties"]},
    install_requires=INSTALL_REQUIRES,
    # cluster: what scripts/package.sh puts in the shipped environment to pack it (venv-pack refuses editable installs)
    extras_require={"dev": ["pytest==9.2.0"], "cluster": ["venv-pack==0.2.0"]},
)
