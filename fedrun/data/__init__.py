"""Client data, data sources, partitions and cohorts."""
