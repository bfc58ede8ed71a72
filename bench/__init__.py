"""Benchmarks of the gateway's HTTP path against a bare proxy (`python -m bench`, see README.md)."""
