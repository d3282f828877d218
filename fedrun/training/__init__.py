"""The training loop and its callbacks (evaluation, loggers, checkpoints, resume)."""
