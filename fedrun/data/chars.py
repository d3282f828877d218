"""TFF's character vocabulary for Shakespeare and next-character windows.

The vocabulary is the 86 characters of TFF's Shakespeare baseline (its text
generation tutorial's set) plus four special ids: `PAD = 0`, the characters
`1..86`, `OOV = 87`, `BOS = 88`, `EOS = 89`, so a model predicts over 90 ids.
As in TFF, text is split into bytes, so a non-ASCII character becomes one OOV id
per UTF-8 byte.

A snippet (one speech) becomes `[BOS] + ids + [EOS]`, padded with `PAD` to a
multiple of `sequence_length + 1` and cut into rows; each row gives an input
`x = row[:-1]` and a target `y = row[1:]` of `sequence_length` ids. Rows never
span two snippets. A row whose targets are all padding (a snippet of length
`k * (sequence_length + 1) - 1` leaves one) carries nothing to learn and is
dropped, unlike TFF.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

CHARACTERS = (
    "dhlptx@DHLPTX $(,048cgkoswCGKOSW[_#'/37;?bfjnrvzBFJNRVZ\"&*.26:\naeimquyAEIMQUY]!%)-159\r"
)
PAD = 0
OOV = len(CHARACTERS) + 1
BOS = len(CHARACTERS) + 2
EOS = len(CHARACTERS) + 3
VOCAB_SIZE = len(CHARACTERS) + 4
SEQUENCE_LENGTH = 80

_BYTE_TO_ID = np.full(256, OOV, dtype=np.int32)
_BYTE_TO_ID[np.frombuffer(CHARACTERS.encode("ascii"), dtype=np.uint8)] = np.arange(
    1, len(CHARACTERS) + 1, dtype=np.int32
)
_ID_TO_TEXT = ["<pad>", *CHARACTERS, "<oov>", "<bos>", "<eos>"]


def encode(text: str) -> np.ndarray:
    """Character ids (int32) of `text`'s UTF-8 bytes, without BOS/EOS."""
    return _BYTE_TO_ID[np.frombuffer(text.encode("utf-8"), dtype=np.uint8)]


def decode(ids: Sequence[int], skip_special: bool = True) -> str:
    """The text of ids (special ids dropped, or shown as `<pad>`, `<oov>`, `<bos>`, `<eos>`)."""
    if skip_special:
        return "".join(_ID_TO_TEXT[i] for i in ids if PAD < i < OOV)
    return "".join(_ID_TO_TEXT[i] for i in ids)


def num_windows(text: str, sequence_length: int = SEQUENCE_LENGTH) -> int:
    """How many rows `windows` makes of one snippet (without tokenizing it)."""
    tokens = len(text.encode("utf-8")) + 2
    rows = -(-tokens // (sequence_length + 1))
    return rows - 1 if tokens % (sequence_length + 1) == 1 else rows


def windows(
    snippets: Sequence[str], sequence_length: int = SEQUENCE_LENGTH
) -> dict[str, np.ndarray]:
    """Next-character examples of snippets: `{"x": [n, L], "y": [n, L]}` int32."""
    row = sequence_length + 1
    rows = []
    for text in snippets:
        tokens = np.concatenate([[BOS], encode(text), [EOS]]).astype(np.int32)
        padded = np.zeros(-(-len(tokens) // row) * row, dtype=np.int32)
        padded[: len(tokens)] = tokens
        rows.append(padded.reshape(-1, row))
    table = np.concatenate(rows) if rows else np.zeros((0, row), dtype=np.int32)
    table = table[(table[:, 1:] != PAD).any(axis=1)]
    return {"x": table[:, :-1].copy(), "y": table[:, 1:].copy()}
