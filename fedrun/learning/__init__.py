"""Learning algorithms and their building blocks (client work, distributor, finalizer, evaluation)."""
