"""Benchmarks against peers, side by side on one machine; run with `python -m benchmarks`."""
