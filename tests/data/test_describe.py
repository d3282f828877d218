"""Describing data: client sizes, label histograms (padding left out), the figure."""

import numpy as np
import pytest

from fedrun.data import chars
from fedrun.data.client_data import ArrayClientData, FederatedData
from fedrun.data.describe import format_summary, plot, read_clients, summarize


def image_data():
    y = np.array([0, 1, 1, 2, 2, 2, 0, 0], np.int32)
    x = np.linspace(0, 1, 8 * 16, dtype=np.float32).reshape(8, 16)
    train = ArrayClientData({"x": x, "y": y}, {"a": [0, 1, 2], "b": [3, 4, 5], "c": [6]})
    test = ArrayClientData({"x": x, "y": y}, {"a": [7]})
    return FederatedData("toy", train, test, {"x": x[:2], "y": y[:2]}, 3)


def text_data():
    w = chars.windows(["abc", "de"], 6)
    return FederatedData(
        "shakespeare", ArrayClientData(w, {"r": [0, 1]}), None, None, chars.VOCAB_SIZE
    )


def test_summary_numbers():
    summary = summarize(image_data())
    assert summary["train"]["clients"] == 3
    assert summary["train"]["examples_per_client"] == {
        "min": 1,
        "median": 3.0,
        "max": 3,
        "total": 7,
    }
    assert summary["train"]["label_histogram"] == [2, 2, 3]
    assert summary["test"]["label_histogram"] == [1, 0, 0]
    assert summary["central_test"] == {"examples": 2, "label_histogram": [1, 1, 0]}
    text = format_summary(summary)
    assert (
        "train: 3 clients, 7 examples; per client min 1 / median 3 / max 3" in text
        and "test: 1 clients" in text
    )


def test_sequence_labels_leave_out_padding():
    summary = summarize(text_data())
    histogram = np.array(summary["train"]["label_histogram"])
    assert histogram[chars.PAD] == 0
    assert histogram.sum() == len("abc") + len("de") + 2  # every character and each EOS
    assert histogram[chars.EOS] == 2


def test_histogram_reads_at_most_max_clients():
    summary = summarize(image_data(), max_clients=2)
    assert summary["train"]["label_histogram_clients"] == 2 and summary["train"]["clients"] == 3
    assert read_clients(image_data().train, 2) == ["a", "c"]
    assert "(from 2 clients)" in format_summary(summary)


@pytest.mark.parametrize("make", [image_data, text_data], ids=["images", "text"])
def test_plot_writes_a_png(tmp_path, make):
    path = tmp_path / "clients.png"
    plot(make(), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
