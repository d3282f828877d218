"""TFF's character vocabulary and next-character windows."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fedrun.data import chars


def test_vocabulary_layout():
    assert len(chars.CHARACTERS) == 86 == len(set(chars.CHARACTERS))
    assert (chars.PAD, chars.OOV, chars.BOS, chars.EOS, chars.VOCAB_SIZE) == (0, 87, 88, 89, 90)
    assert chars.encode("d").tolist() == [1] and chars.encode("\r").tolist() == [86]


def test_encode_decode_round_trip_and_oov():
    text = "To be, or not to be: that is the question."
    assert chars.decode(chars.encode(text)) == text
    assert chars.encode("é").tolist() == [chars.OOV, chars.OOV]  # two UTF-8 bytes
    assert chars.decode([chars.BOS, 1, chars.PAD], skip_special=False) == "<bos>d<pad>"


def test_windows_shift_targets_by_one():
    w = chars.windows(["abc"], sequence_length=6)
    assert w["x"].tolist() == [[chars.BOS, *chars.encode("abc"), chars.EOS, 0]]
    assert w["y"].tolist() == [[*chars.encode("abc"), chars.EOS, 0, 0]]


def test_windows_never_span_snippets():
    w = chars.windows(["ab", "cd"], sequence_length=8)
    assert len(w["x"]) == 2
    assert all(row[0] == chars.BOS for row in w["x"])


def test_long_snippet_continues_without_bos():
    w = chars.windows(["x" * 10], sequence_length=4)  # 12 tokens -> rows of 5: 5, 5, 2
    assert w["x"].shape == (3, 4)
    assert w["x"][1].tolist() == chars.encode("xxxx").tolist()
    assert w["y"][2].tolist() == [chars.EOS, 0, 0, 0]


def test_row_of_padding_targets_is_dropped():
    w = chars.windows(
        ["x" * 4], sequence_length=4
    )  # 6 tokens: the second row's targets are all padding
    assert w["x"].shape == (1, 4)
    assert chars.num_windows("x" * 4, 4) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=5), st.integers(1, 30))
def test_num_windows_counts_what_windows_makes(snippets, length):
    w = chars.windows(snippets, length)
    assert len(w["x"]) == sum(chars.num_windows(s, length) for s in snippets)
    assert w["x"].shape[1:] == (length,) and w["x"].dtype == np.int32
    assert np.all((w["y"] != 0).any(axis=1))
    np.testing.assert_array_equal(w["x"][:, 1:], w["y"][:, :-1])


@pytest.mark.parametrize("length", [1, 80], ids=["length-1", "length-80"])
def test_empty_snippet_list(length):
    assert chars.windows([], length)["x"].shape == (0, length)
