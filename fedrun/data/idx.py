"""Reading and writing IDX files (the MNIST / Fashion-MNIST file format).

An IDX file is two zero bytes, a type code, the number of dimensions, each
dimension as a big-endian uint32, then the values in big-endian C order. The
files ship gzipped (`train-images-idx3-ubyte.gz`) or plain; both are read, told
apart by the gzip magic bytes rather than the file name.
"""

from __future__ import annotations

import gzip
import os
import struct
from typing import Optional, Sequence

import numpy as np

from fedrun.data.errors import DataError

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _raw_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
        return gzip.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw
    except (OSError, EOFError) as err:
        raise DataError(path, f"cannot read the file: {err}") from None


def read_idx(path: str) -> np.ndarray:
    """The array an IDX file holds (native byte order; read-only when no conversion was needed).

    Raises:
        DataError: naming `path` if the file is missing, truncated or not IDX.
    """
    if not os.path.exists(path):
        raise DataError(path, "file not found")
    raw = _raw_bytes(path)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _TYPES:
        raise DataError(path, "not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(path, "IDX header is truncated")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            path,
            f"IDX header promises shape {list(shape)} ({expected} bytes) but the file holds {len(raw) - header}",
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="), copy=False)
    )


def write_idx(path: str, array: np.ndarray, compress: Optional[bool] = None) -> None:
    """Writes `array` as IDX (gzipped when `compress`, default: the name ends in `.gz`)."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _TYPES.items()}
    code = codes[array.dtype]
    payload = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    payload += np.ascontiguousarray(array).astype(np.dtype(_TYPES[code])).tobytes()
    compress = path.endswith(".gz") if compress is None else compress
    with open(path, "wb") as f:
        f.write(gzip.compress(payload) if compress else payload)


def find_file(directory: str, stems: Sequence[str]) -> Optional[str]:
    """The first of `stem`, `stem.gz` (for each stem) present in `directory`."""
    for stem in stems:
        for name in (stem, f"{stem}.gz"):
            candidate = os.path.join(directory, name)
            if os.path.exists(candidate):
                return candidate
    return None
