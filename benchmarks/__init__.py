"""Reproducible benchmarks; `python -m benchmarks` runs them all (results in BENCHMARKS.md)."""
