"""Benchmarks: each `bench_*.py` module has `main()` that prints its figures.

Run all with `make bench` (or `python -m benchmarks [name ...]`). Benchmarks that need
PostgreSQL read DATABASE_URL and say so when it is not a PostgreSQL URL.
"""
