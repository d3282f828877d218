"""Compatibility layers that let code written for other federated learning libraries
run on fedrun. `fedrun.compat.tff` speaks TensorFlow Federated's Python API."""
