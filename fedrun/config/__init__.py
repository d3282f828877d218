"""Configuration: registries, typed parameters and validation."""
