"""The application layer: the config schema and its ConfigStore, parsed into one run spec."""
