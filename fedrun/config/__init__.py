"""The base of configuration: registries, typed parameters and config errors."""
