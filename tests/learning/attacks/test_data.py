"""Data attacks: label flipping, the backdoor trigger, the poisoned client data."""

import numpy as np
import pytest

from fedrun.config.errors import ConfigError
from fedrun.data.client_data import ArrayClientData
from fedrun.learning.attacks.config import AttackConfig
from fedrun.learning.attacks.data import (
    PoisonedClientData,
    add_trigger,
    check_data_attack,
    flip_labels,
    image_shape,
    poisoned_positions,
    triggered_test_set,
)

IMAGES = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4) / 100


def test_label_flip_default_and_fixed_mapping():
    y = np.array([0, 1, 2, 9, 5], np.int32)
    np.testing.assert_array_equal(flip_labels(y, 10, None), [9, 8, 7, 0, 4])
    mapping = [1, 0, 2, 3, 4, 5, 6, 7, 8, 9]
    np.testing.assert_array_equal(flip_labels(y, 10, mapping), [1, 0, 2, 9, 5])


@pytest.mark.parametrize("flat", [False, True], ids=["2d", "flat-784-like"])
def test_trigger_sets_the_bottom_right_square(flat):
    x = IMAGES.reshape(2, 16) if flat else IMAGES
    out = add_trigger(x, size=2, value=1.0)
    assert out.shape == x.shape
    expected = IMAGES.copy()
    expected[:, 2:, 2:] = 1.0
    np.testing.assert_array_equal(out.reshape(2, 4, 4), expected)
    np.testing.assert_array_equal(x.reshape(2, 4, 4), IMAGES)  # the input is not modified


def test_image_shape_refuses_non_images():
    assert image_shape([784]) == (28, 28)
    assert image_shape([28, 28, 1]) == (28, 28, 1)
    with pytest.raises(ValueError, match="image features"):
        image_shape([10])


def test_poisoned_positions_are_a_seeded_fraction():
    rows = poisoned_positions(10, 0.3, seed=1, client_id="a")
    assert len(rows) == 3 and len(set(rows)) == 3 and rows.max() < 10
    np.testing.assert_array_equal(rows, poisoned_positions(10, 0.3, seed=1, client_id="a"))
    assert not np.array_equal(rows, poisoned_positions(10, 0.3, seed=2, client_id="a"))


@pytest.fixture
def clean():
    arrays = {"x": np.tile(IMAGES, (5, 1, 1)), "y": np.arange(10, dtype=np.int32) % 3}
    return ArrayClientData(arrays, {"a": np.arange(5), "b": np.arange(5, 10)})


def test_label_flip_poisons_only_byzantine_clients(clean):
    data = PoisonedClientData(
        clean, AttackConfig(kind="label_flip"), frozenset({"b"}), num_classes=3, seed=0
    )
    np.testing.assert_array_equal(data.arrays_for("a")["y"], clean.arrays_for("a")["y"])
    np.testing.assert_array_equal(data.arrays_for("b")["y"], 2 - clean.arrays_for("b")["y"])
    np.testing.assert_array_equal(data.arrays_for("b")["x"], clean.arrays_for("b")["x"])
    pool, positions = data.cohort_pool(["a", "b"])
    np.testing.assert_array_equal(pool["y"].numpy()[positions[1]], 2 - clean.arrays_for("b")["y"])
    honest_pool, _ = data.cohort_pool(["a"])
    assert honest_pool is clean.cohort_pool(["a"])[0]  # the clean source's shared pool


def test_backdoor_triggers_a_fraction_with_the_target_label(clean):
    config = AttackConfig(
        kind="backdoor", target_label=2, poison_fraction=0.4, trigger_size=1, trigger_value=9.0
    )
    data = PoisonedClientData(clean, config, frozenset({"a"}), num_classes=3, seed=4)
    rows = poisoned_positions(5, 0.4, 4, "a")
    x, y = data.arrays_for("a")["x"], data.arrays_for("a")["y"]
    original = clean.arrays_for("a")
    np.testing.assert_array_equal(y[rows], 2)
    np.testing.assert_array_equal(x[rows, 3, 3], 9.0)
    others = np.setdiff1d(np.arange(5), rows)
    np.testing.assert_array_equal(x[others], original["x"][others])
    np.testing.assert_array_equal(y[others], original["y"][others])


def test_triggered_test_set_drops_target_class_and_relabels():
    arrays = {"x": IMAGES.reshape(2, 16), "y": np.array([0, 3], np.int32)}
    out = triggered_test_set(AttackConfig(kind="backdoor", target_label=0, trigger_size=1), arrays)
    np.testing.assert_array_equal(out["y"], [0])
    np.testing.assert_array_equal(out["x"], add_trigger(arrays["x"][1:], 1, 1.0))


@pytest.mark.parametrize(
    "config, path",
    [
        (AttackConfig(kind="label_flip", label_map=[0, 1]), "attack.label_map"),
        (AttackConfig(kind="label_flip", label_map=[0, 1, 3]), "attack.label_map"),
        (AttackConfig(kind="backdoor", target_label=3), "attack.target_label"),
        (AttackConfig(kind="backdoor", trigger_size=5), "attack.trigger_size"),
    ],
    ids=["short-map", "map-out-of-range", "no-such-target", "trigger-too-large"],
)
def test_bad_data_attack_is_refused_with_its_path(clean, config, path):
    with pytest.raises(ConfigError) as err:
        check_data_attack(config, clean, num_classes=3)
    assert err.value.path == path


def test_backdoor_needs_images():
    data = ArrayClientData(
        {"x": np.zeros((4, 10), np.float32), "y": np.zeros(4, np.int32)}, {"a": np.arange(4)}
    )
    with pytest.raises(ConfigError, match="image features") as err:
        check_data_attack(AttackConfig(kind="backdoor"), data, num_classes=3)
    assert err.value.path == "attack.kind"
