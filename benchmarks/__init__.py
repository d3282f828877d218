"""fedrun benchmarks (`make bench`)."""
