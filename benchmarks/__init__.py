"""Benchmarks for `make bench`: a printed table of measured figures against their targets (not tests)."""
