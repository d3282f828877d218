"""`emnist` / `emnist_digits` on tiny HDF5 files in TFF's layout: lazy reads, checks, end to end."""

import h5py
import numpy as np
import pytest

from fedrun.data.errors import DataError
from fedrun.data.preprocess import PreprocessConfig
from fedrun.data.registry import DATASETS, DataContext
from fedrun.data.sources.emnist import open_emnist
from tests.conftest import run_fedrun

WRITERS = {"f0000_14": 5, "f0001_41": 3, "f0002_07": 4}


def writer_pixels(n, seed):
    rng = np.random.default_rng(seed)
    pixels = np.ones((n, 28, 28), np.float32)  # 1.0 is background
    pixels[:, 8:20, 10:18] = rng.uniform(0, 0.3, size=(n, 12, 8))
    return pixels


def write_clients(path, clients):
    """A file in TFF's layout from `{writer: (pixels, labels)}`: examples/<writer>/pixels
    float32 [n,28,28], examples/<writer>/label int32 [n]."""
    with h5py.File(path, "w") as f:
        examples = f.create_group("examples")
        for writer, (pixels, labels) in clients.items():
            group = examples.create_group(writer)
            group.create_dataset("pixels", data=pixels)
            group.create_dataset("label", data=labels)
    return str(path)


def write_emnist(path, writers=WRITERS, num_classes=10, edit=None):
    """A file of `writers` (name -> examples), labels cycling through the classes; `edit`
    may change a writer's arrays."""
    clients = {}
    for k, (writer, n) in enumerate(writers.items()):
        pixels, labels = writer_pixels(n, k), (np.arange(n) % num_classes).astype(np.int32)
        clients[writer] = edit(writer, pixels, labels) if edit is not None else (pixels, labels)
    return write_clients(path, clients)


@pytest.fixture
def emnist_dir(tmp_path):
    write_emnist(tmp_path / "fed_emnist_digitsonly_train.h5")
    write_emnist(tmp_path / "fed_emnist_digitsonly_test.h5", {w: 2 for w in WRITERS})
    return tmp_path


def test_open_emnist_gives_writers_lazily(emnist_dir):
    train, test = open_emnist(
        str(emnist_dir / "fed_emnist_digitsonly_train.h5"),
        str(emnist_dir / "fed_emnist_digitsonly_test.h5"),
        10,
    )
    assert list(train.client_ids) == sorted(WRITERS)
    assert (
        train.element_spec["x"].shape.as_list() == [28, 28]
        and train.element_spec["y"].dtype.name == "int32"
    )
    assert [train.num_examples(w) for w in train.client_ids] == [
        WRITERS[w] for w in sorted(WRITERS)
    ]
    arrays = train.arrays_for("f0001_41")
    np.testing.assert_array_equal(arrays["x"], writer_pixels(3, 1))
    assert arrays["y"].tolist() == [0, 1, 2]
    assert test.num_examples("f0002_07") == 2
    batch = next(iter(train.dataset_for("f0000_14").batch(5)))
    assert batch["x"].shape == (5, 28, 28)


def test_open_emnist_without_test_file(emnist_dir):
    train, test = open_emnist(str(emnist_dir / "fed_emnist_digitsonly_train.h5"))
    assert test is None and len(train.client_ids) == 3


def test_registered_sources_read_tff_file_names(tmp_path, emnist_dir):
    context = DataContext(0, PreprocessConfig())
    data = DATASETS.build(
        {"type": "emnist_digits", "path": str(emnist_dir)},
        "dataset",
        context=context,
        config_path="dataset",
    )
    assert data.num_classes == 10 and len(data.test.client_ids) == 3
    (tmp_path / "full").mkdir()
    write_emnist(tmp_path / "full" / "fed_emnist_train.h5", num_classes=62)
    full = DATASETS.build(
        {"type": "emnist", "path": str(tmp_path / "full"), "test_file": None},
        "dataset",
        context=context,
        config_path="dataset",
    )
    assert full.num_classes == 62 and full.test is None


def nan_pixels(writer, pixels, labels):
    if writer == "f0002_07":
        pixels[1, 3, 3] = np.nan
    return pixels, labels


@pytest.mark.parametrize(
    "edit, problem",
    [
        (nan_pixels, "NaN"),
        (lambda w, p, l: (p, l + 9 if w == "f0002_07" else l), "outside 0..9"),
        (lambda w, p, l: (p[:0], l[:0]) if w == "f0002_07" else (p, l), "no examples"),
        (lambda w, p, l: (p[:, :, :20], l) if w == "f0002_07" else (p, l), "shape"),
        (
            lambda w, p, l: (p * 255 if w == "f0002_07" else p, l),
            "outside the expected \\[0.0, 1.0\\]",
        ),
        (lambda w, p, l: (p, l[:2]) if w == "f0002_07" else (p, l), "4 feature rows but 2 labels"),
    ],
    ids=[
        "nan",
        "label-out-of-range",
        "empty-client",
        "wrong-shape",
        "unscaled-pixels",
        "missing-labels",
    ],
)
def test_bad_writer_fails_when_read_naming_file_and_writer(tmp_path, edit, problem):
    path = write_emnist(tmp_path / "train.h5", edit=edit)
    train, _ = open_emnist(path, num_classes=10)  # the first writer is sound, so the file opens
    train.arrays_for("f0000_14")
    with pytest.raises(DataError, match=problem) as info:
        train.arrays_for("f0002_07")
    assert info.value.source == path and info.value.client_id == "f0002_07"


def test_bad_first_writer_fails_at_open(tmp_path):
    path = write_emnist(tmp_path / "train.h5", edit=lambda w, p, l: (p, l + 20))
    with pytest.raises(DataError, match="outside 0..9") as info:
        open_emnist(path, num_classes=10)
    assert info.value.client_id == "f0000_14"


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b"this is not hdf5"), "cannot open as HDF5"),
        (lambda p: h5py.File(p, "w").close(), "no 'examples' group"),
        (lambda p: h5py.File(p, "w").create_group("examples").file.close(), "holds no clients"),
    ],
    ids=["missing", "not-hdf5", "no-examples-group", "no-clients"],
)
def test_unusable_files_name_the_path(tmp_path, make, problem):
    path = tmp_path / "fed_emnist_train.h5"
    make(path)
    with pytest.raises(DataError, match=problem) as info:
        open_emnist(str(path))
    assert info.value.source == str(path)
    if problem == "file not found":
        assert "fed_emnist.tar.bz2" in str(info.value) and "dataset.path" in str(info.value)


def test_missing_feature_dataset(tmp_path):
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f.create_group("examples/w1").create_dataset(
            "pixels", data=np.ones((2, 28, 28), np.float32)
        )
    with pytest.raises(DataError, match="missing dataset examples/w1/label"):
        open_emnist(str(path))


@pytest.mark.slow
def test_fedrun_trains_on_a_test_made_file(emnist_dir, tmp_path):
    run_dir = tmp_path / "run"
    result = run_fedrun(
        [
            f"hydra.run.dir={run_dir}",
            "dataset=emnist_digits",
            f"dataset.path={emnist_dir}",
            "rounds=2",
            "clients_per_round=3",
            "progress=false",
        ]
    )
    assert result.returncode == 0, result.stderr
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and '"num_examples": 60' in lines[0]  # 12 examples x 5 epochs


@pytest.mark.slow
def test_fedrun_refuses_a_bad_writer_before_training(tmp_path):
    # A bad writer is dropped from its round; with min_clients = the cohort, the round fails naming it.
    write_emnist(tmp_path / "fed_emnist_digitsonly_train.h5", edit=nan_pixels)
    run_dir = tmp_path / "run"
    result = run_fedrun(
        [
            f"hydra.run.dir={run_dir}",
            "dataset=emnist_digits",
            f"dataset.path={tmp_path}",
            "dataset.test_file=null",
            "rounds=1",
            "clients_per_round=3",
            "min_clients=3",
        ]
    )
    assert result.returncode == 1
    assert (
        "fed_emnist_digitsonly_train.h5" in result.stderr
        and "f0002_07" in result.stderr
        and "NaN" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert (
        not (run_dir / "metrics.jsonl").exists()
        or not (run_dir / "metrics.jsonl").read_text().strip()
    )
