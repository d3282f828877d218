"""`huggingface` on small sets written locally with `datasets`: save_to_disk and parquet, by column and by partitioner."""

import json

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")

import fedrun.data.sources  # noqa: E402,F401  (registers the sources)
from fedrun.config.errors import ConfigError  # noqa: E402
from fedrun.data.errors import DataError  # noqa: E402
from fedrun.data.preprocess import PreprocessConfig  # noqa: E402
from fedrun.data.registry import DATASETS, DataContext  # noqa: E402
from tests.conftest import run_fedrun  # noqa: E402

WRITERS = {"w_a": 6, "w_b": 4, "w_c": 5}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Offline (conftest sets it before `datasets` is imported), with the Arrow cache of
    loaded parquet files in the test's directory (`datasets` read HF_HOME at import)."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


def images_set():
    """15 grayscale 8x8 images (uint8) of 3 writers, label = row index mod 3 (a ClassLabel of 4 names)."""
    rng = np.random.default_rng(0)
    writers = [w for w, n in WRITERS.items() for _ in range(n)]
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "writer_id": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["a", "b", "c", "d"]),
        }
    )
    images = [rng.integers(0, 256, size=(8, 8), dtype=np.uint8) for _ in writers]
    return datasets.Dataset.from_dict(
        {"image": images, "writer_id": writers, "label": [i % 3 for i in range(len(writers))]},
        features=features,
    )


def build(node, seed=0):
    return DATASETS.build(
        {"type": "huggingface", **node},
        "dataset",
        context=DataContext(seed, PreprocessConfig()),
        config_path="dataset",
    )


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "saved"
    datasets.DatasetDict(
        {"train": images_set(), "test": images_set().select(range(4))}
    ).save_to_disk(str(path))
    return path


def test_save_to_disk_partitioned_by_column(saved):
    data = build(
        {
            "path": str(saved),
            "partition_by": "writer_id",
            "client_test_fraction": 0,
            "test_split": "test",
        }
    )
    assert list(data.train.client_ids) == ["w_a", "w_b", "w_c"] and data.test is None
    assert [data.train.num_examples(w) for w in data.train.client_ids] == [6, 4, 5]
    arrays = data.train.arrays_for("w_b")
    expected = images_set()
    np.testing.assert_allclose(
        arrays["x"],
        np.stack([np.asarray(expected[i]["image"]) for i in range(6, 10)]) / 255.0,
        rtol=1e-6,
    )
    assert arrays["y"].tolist() == [0, 1, 2, 0] and arrays["y"].dtype == np.int32
    assert data.num_classes == 4 and data.central_test["x"].shape == (4, 8, 8)
    assert data.train.element_spec["x"].shape.as_list() == [8, 8]


def test_client_test_fraction_splits_each_writer(saved):
    data = build({"path": str(saved), "partition_by": "writer_id", "client_test_fraction": 0.25})
    assert [
        data.train.num_examples(w) + data.test.num_examples(w) for w in ("w_a", "w_b", "w_c")
    ] == [6, 4, 5]
    assert data.test.num_examples("w_a") == 2


def test_parquet_partitioned_by_a_fedrun_partitioner(tmp_path):
    path = tmp_path / "set.parquet"
    images_set().to_parquet(str(path))
    node = {
        "path": str(path),
        "num_clients": 3,
        "partition": {"type": "iid"},
        "client_test_fraction": 0,
        "num_classes": 4,
    }
    data = build(node)
    sizes = [data.train.num_examples(c) for c in data.train.client_ids]
    assert len(sizes) == 3 and sum(sizes) == 15 and sizes == [5, 5, 5]
    assert (
        build(node).train.arrays_for(data.train.client_ids[1])["y"].tolist()
        == data.train.arrays_for(data.train.client_ids[1])["y"].tolist()
    )
    assert (
        build(node, seed=1).train.arrays_for(data.train.client_ids[0])["x"].tolist()
        != data.train.arrays_for(data.train.client_ids[0])["x"].tolist()
    )


def test_next_chars_for_char_rnn(tmp_path):
    path = tmp_path / "text"
    datasets.Dataset.from_dict(
        {"character_id": ["r", "r", "j"], "x": ["abcd", "bcde", "wxyz"], "y": ["e", "f", "!"]}
    ).save_to_disk(str(path))
    data = build(
        {
            "path": str(path),
            "partition_by": "character_id",
            "feature": "x",
            "label": "y",
            "decode": "next_chars",
            "client_test_fraction": 0,
        }
    )
    from fedrun.data import chars

    arrays = data.train.arrays_for("r")
    np.testing.assert_array_equal(
        arrays["x"], np.stack([chars.encode("abcd"), chars.encode("bcde")])
    )
    np.testing.assert_array_equal(
        arrays["y"], np.stack([chars.encode("bcde"), chars.encode("cdef")])
    )
    assert data.num_classes == chars.VOCAB_SIZE


@pytest.mark.parametrize(
    "node, error, problem",
    [
        pytest.param(
            {"partition_by": "writer"},
            DataError,
            r"no column 'writer'; the set has \['image', 'writer_id', 'label'\]",
            id="bad-column",
        ),
        pytest.param(
            {"label": "writer_id"},
            DataError,
            "label column 'writer_id' has dtype object, expected integer classes",
            id="text-labels",
        ),
        pytest.param(
            {"split": "valid"},
            DataError,
            r"no split 'valid'; the saved set has \['test', 'train'\]",
            id="bad-split",
        ),
        pytest.param(
            {"name": "flwrlabs/femnist"},
            ConfigError,
            "exactly one of dataset.name",
            id="name-and-path",
        ),
    ],
)
def test_bad_configs_name_what_is_wrong(saved, node, error, problem):
    with pytest.raises(error, match=problem):
        build({"path": str(saved), **node})


def test_hub_set_needs_download_or_offline(monkeypatch):
    monkeypatch.delenv("HF_DATASETS_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(
        ConfigError,
        match=r"dataset.download: dataset.name=flwrlabs/femnist loads from the Hugging Face Hub",
    ):
        build({"name": "flwrlabs/femnist"})


def test_hub_name_offline_reads_only_the_cache():
    with pytest.raises(DataError, match="flwrlabs/femnist: cannot load split 'train'"):
        build({"name": "flwrlabs/femnist"})


@pytest.mark.slow
@pytest.mark.parametrize(
    "partition",
    [
        pytest.param(["dataset.partition_by=writer_id"], id="by-column"),
        pytest.param(["dataset.num_clients=3", "dataset.partition.type=iid"], id="by-partitioner"),
    ],
)
def test_fedrun_trains_two_rounds(saved, tmp_path, partition):
    run_dir = tmp_path / "run"
    result = run_fedrun(
        [
            f"hydra.run.dir={run_dir}",
            "dataset=huggingface",
            f"dataset.path={saved}",
            *partition,
            "dataset.client_test_fraction=0",
            "dataset.test_split=test",
            "rounds=2",
            "clients_per_round=3",
            "progress=false",
        ]
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["round"] for m in lines] == [1, 2] and lines[0]["train"][
        "num_examples"
    ] == 75  # 15 images x 5 epochs
