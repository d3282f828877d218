"""fedrun's benchmark suite (`make bench`, or `python -m benchmarks.run --help`).

One module per workload, each runnable alone (`python -m benchmarks.w1_tutorial`)
and through `benchmarks.run`, which lists and runs them by name, each in its own
process so that peak memory and compilation caches are the workload's own.
"""
