"""Models: registered Keras builders and the functional model wrapper."""
