"""Benchmarks, run on demand (`make bench` or `python -m bench`), never as test assertions."""
