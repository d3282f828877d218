"""`fedrun-data download NAME` against a loopback mirror, then `fedrun dataset=NAME` with no path."""

import json
import os
import subprocess
import sys

import pytest

from fedrun.data import download_cli
from tests.conftest import REPO_ROOT, run_fedrun
from tests.data.loopback import serve
from tests.data.sources.test_emnist import WRITERS, write_emnist
from tests.data.test_tff_downloads import pin
from tests.data.tff_format import emnist_rows, lzma_of, tar_bz2, write_tff_sqlite


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache and Keras home, so only what the test downloads is found."""
    monkeypatch.setenv("FEDRUN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("FEDRUN_DATA_MIRROR", raising=False)
    return tmp_path / "cache"


def test_run_commands_for_the_downloaded_formats():
    assert download_cli.run_command("emnist_digits", "hdf5", None) == "fedrun dataset=emnist_digits"
    assert (
        download_cli.run_command("emnist", "sqlite", "/d/tff")
        == "fedrun dataset=emnist dataset.format=tff_sqlite dataset.path=/d/tff"
    )
    assert (
        download_cli.run_command("shakespeare", "hdf5", None)
        == "fedrun dataset=shakespeare dataset.format=tff_hdf5"
    )
    assert download_cli.run_command("cifar100", "hdf5", None) == "fedrun dataset=cifar100"
    assert download_cli.run_command("stackoverflow", "hdf5", None) is None


def test_cli_downloads_sqlite_into_the_cache_dir(tmp_path, cache):
    database = write_tff_sqlite(
        tmp_path / "shakespeare.sqlite", {"train": {"ROMEO": [{"snippets": b"But soft"}]}}
    )
    with serve({"shakespeare.sqlite.lzma": lzma_of(database)}) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "fedrun.data_cli",
                "download",
                "shakespeare",
                "--format",
                "sqlite",
                "--base-url",
                server.url,
                "--cache-dir",
                str(tmp_path / "elsewhere"),
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    target = tmp_path / "elsewhere" / "tff"
    assert result.stdout.splitlines() == [
        str(target / "shakespeare.sqlite"),
        f"Train on it with: fedrun dataset=shakespeare dataset.format=tff_sqlite dataset.path={target}",
    ]
    assert (
        "trusted on first use" in result.stderr
        and "shakespeare.sqlite.lzma: 100.0%" in result.stderr
    )


def test_cli_network_failure_exits_1_naming_the_url(tmp_path, cache, capsys):
    with serve({}) as server:
        assert download_cli.main(["cifar100", "--base-url", server.url, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert (
        f"fedrun-data: download error: downloading {server.url}/fed_cifar100.tar.bz2 to {cache}"
        in err
        and "HTTP 404" in err
    )


def test_sqlite_emnist_source_reads_the_downloaded_database(tmp_path, cache):
    import fedrun.data.sources  # noqa: F401
    from fedrun.data.preprocess import PreprocessConfig
    from fedrun.data.registry import DATASETS, DataContext

    database = write_tff_sqlite(
        tmp_path / "emnist_all.sqlite",
        {
            "digits_only_train": {"w1": emnist_rows(4, 0), "w0": emnist_rows(2, 1)},
            "digits_only_test": {"w1": emnist_rows(1, 2)},
            "all_train": {"w9": emnist_rows(3, 3, 62)},
            "all_test": {"w9": emnist_rows(1, 4, 62)},
        },
    )
    with serve({"emnist_all.sqlite.lzma": lzma_of(database)}) as server:
        assert (
            download_cli.main(
                ["emnist_digits", "--format", "sqlite", "--base-url", server.url, "--quiet"]
            )
            == 0
        )
    context = DataContext(0, PreprocessConfig())
    data = DATASETS.build(
        {"type": "emnist_digits", "format": "tff_sqlite"},
        "dataset",
        context=context,
        config_path="dataset",
    )
    assert list(data.train.client_ids) == ["w0", "w1"] and data.train.num_examples("w1") == 4
    arrays = data.train.arrays_for("w1")
    assert (
        arrays["x"].shape == (4, 28, 28)
        and arrays["y"].tolist() == [0, 1, 2, 3]
        and arrays["y"].dtype.name == "int32"
    )
    assert list(data.test.client_ids) == ["w1"]
    full = DATASETS.build(
        {"type": "emnist", "format": "tff_sqlite"},
        "dataset",
        context=context,
        config_path="dataset",
    )
    assert full.num_classes == 62 and list(full.train.client_ids) == ["w9"]


@pytest.mark.slow
def test_download_then_train_with_no_path(tmp_path, cache, monkeypatch, capsys):
    src = tmp_path / "src"
    src.mkdir()
    archive = tar_bz2(
        [
            write_emnist(src / "fed_emnist_digitsonly_train.h5"),
            write_emnist(src / "fed_emnist_digitsonly_test.h5", {w: 2 for w in WRITERS}),
        ]
    )
    pin(monkeypatch, "emnist_digits", "hdf5", archive)
    with serve({"fed_emnist_digitsonly.tar.bz2": archive}) as server:
        monkeypatch.setenv("FEDRUN_DATA_MIRROR", server.url)
        assert download_cli.main(["emnist_digits"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[-1] == "Train on it with: fedrun dataset=emnist_digits"
    )
    monkeypatch.delenv("FEDRUN_DATA_MIRROR")
    run_dir = tmp_path / "run"
    result = run_fedrun(
        [
            f"hydra.run.dir={run_dir}",
            "dataset=emnist_digits",
            "rounds=2",
            "clients_per_round=3",
            "progress=false",
        ]
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["round"] for m in lines] == [1, 2] and lines[0]["train"][
        "num_examples"
    ] == 60  # 12 examples x 5 epochs
