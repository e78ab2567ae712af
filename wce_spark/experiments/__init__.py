"""Experiments run by hand (scripts/kuairand_experiment.py, scripts/compare_schemes.py): the KuaiRand
results against baselines, and scheme A vs scheme B. Results and commands: docs/EXPERIMENTS.md."""
