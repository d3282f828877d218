"""`tff.simulation.datasets.emnist.load_data` on local files in TFF's layout."""

import h5py
import pytest

import fedrun.compat.tff as tff
from fedrun.data.errors import DataError
from tests.compat.tff.emnist_files import write_emnist


@pytest.mark.parametrize("only_digits", [True, False], ids=["digits", "all-classes"])
def test_load_data_reads_both_splits(tmp_path, only_digits):
    train_arrays = write_emnist(str(tmp_path), num_clients=3, only_digits=only_digits)
    train, test = tff.simulation.datasets.emnist.load_data(
        only_digits=only_digits, path=str(tmp_path)
    )
    assert train.client_ids == sorted(train_arrays) and test.client_ids == train.client_ids
    first = train.client_ids[0]
    labels = [int(e["label"]) for e in train.create_tf_dataset_for_client(first)]
    assert labels == train_arrays[first]["label"].tolist()


def test_missing_files_say_that_nothing_is_downloaded(tmp_path):
    with pytest.raises(DataError, match="does not download"):
        tff.simulation.datasets.emnist.load_data(path=str(tmp_path))


def test_client_without_pixels_is_reported(tmp_path):
    write_emnist(str(tmp_path), num_clients=2)
    with h5py.File(tmp_path / "fed_emnist_digitsonly_train.h5", "a") as f:
        client = list(f["examples"].keys())[1]
        del f["examples"][client]["pixels"]
    train, _ = tff.simulation.datasets.emnist.load_data(path=str(tmp_path))
    with pytest.raises(DataError, match=f"missing dataset examples/{client}/pixels") as error:
        train.create_tf_dataset_for_client(client)
    assert error.value.client_id == client


@pytest.mark.parametrize(
    "only_digits, fits", [(True, False), (False, True)], ids=["digits", "all-classes"]
)
def test_labels_are_checked_against_the_version(tmp_path, only_digits, fits):
    write_emnist(str(tmp_path), num_clients=2, only_digits=only_digits)
    train_file = tmp_path / tff.simulation.datasets.emnist.file_names(only_digits)[0]
    with h5py.File(train_file, "a") as f:
        client = list(f["examples"].keys())[1]
        f["examples"][client]["label"][0] = 40  # a lower-case letter
    train, _ = tff.simulation.datasets.emnist.load_data(only_digits=only_digits, path=str(tmp_path))
    if fits:
        assert int(next(iter(train.create_tf_dataset_for_client(client)))["label"]) == 40
    else:
        with pytest.raises(DataError, match="outside 0..9") as error:
            train.create_tf_dataset_for_client(client)
        assert error.value.client_id == client
