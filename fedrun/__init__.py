"""fedrun: declarative federated learning experiments on TensorFlow 2 / Keras 3.

Importing the package is cheap: TensorFlow is imported only by the modules that
need it, so configuration errors are reported before TensorFlow starts.
"""

import os

# TensorFlow's C++ start-up banner hides fedrun's own messages; users can still
# raise the level by setting the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
