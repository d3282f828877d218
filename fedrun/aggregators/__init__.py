"""Aggregation factories and processes, and the aggregator tree built from YAML."""
