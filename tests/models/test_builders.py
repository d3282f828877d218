"""Registered models: architectures as published (parameter counts)."""

import pytest

from fedrun.models.builders import MODELS, ModelInputs, parameter_count

MNIST = ModelInputs((784,), "float32", 10)


@pytest.mark.parametrize(
    "node, inputs, expected",
    [
        ({"type": "logreg"}, MNIST, 7_850),
        ({"type": "mlp_2nn"}, MNIST, 199_210),
        ({"type": "cnn_mcmahan"}, MNIST, 1_663_370),
        ({"type": "cnn_emnist"}, ModelInputs((28, 28), "float32", 62), 1_206_590),
    ],
    ids=["logreg", "mlp_2nn", "cnn_mcmahan", "cnn_emnist-62"],
)
def test_parameter_counts_match_the_papers(node, inputs, expected):
    assert parameter_count(MODELS.build(node, "model", inputs=inputs)) == expected


def test_logreg_starts_at_zero():
    model = MODELS.build({"type": "logreg"}, "model", inputs=MNIST)
    assert all(float(abs(v.value).numpy().max()) == 0.0 for v in model.trainable_variables)
