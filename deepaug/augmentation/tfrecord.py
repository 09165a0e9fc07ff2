"""TFRecord files of `tf.train.Example`s, written without TensorFlow.

A TFRecord file is a sequence of records: an 8-byte little-endian length, the masked
CRC-32C of those 8 bytes, the data, and the masked CRC-32C of the data. Each record here
is a serialized `tf.train.Example` whose features are bytes or int64 lists, which is all
an image dataset needs; `tf.data.TFRecordDataset` and `tf.io.parse_single_example` read
them. CRC-32C comes from google-crc32c or crc32c when either is installed, and otherwise
runs vectorized in numpy (blocks in parallel, then combined): no extra dependency.

>>> record = encode_example({"image/class/label": [3], "image/format": [b"png"]})
>>> len(frame(record)) == len(record) + 16
True
"""
from __future__ import annotations

import functools
import importlib
import struct
from typing import Callable, Iterable, Iterator, Mapping, Sequence, Union

import numpy as np

Value = Union[bytes, int]
_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8


def _table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1).astype(np.uint32)
    return table


_TABLE = _TABLE_LIST = None


def _tables() -> tuple[np.ndarray, list[int]]:
    global _TABLE, _TABLE_LIST
    if _TABLE is None:
        _TABLE = _table()
        _TABLE_LIST = [int(v) for v in _TABLE]
    return _TABLE, _TABLE_LIST  # type: ignore[return-value]


def _bytewise(state: int, data: bytes) -> int:
    """The raw CRC register after `data`, one byte at a time (short inputs)."""
    table = _tables()[1]
    for byte in data:
        state = table[(state ^ byte) & 0xFF] ^ (state >> 8)
    return state


def _blocks(states: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Registers after each row of `blocks` (uint8, (m, b)), each row from its own start state."""
    table = _tables()[0]
    for j in range(blocks.shape[1]):
        states = table[(states ^ blocks[:, j]) & 0xFF] ^ (states >> 8)
    return states


@functools.lru_cache(maxsize=32)
def _shift_tables(block: int) -> tuple[list[int], ...]:
    """Byte tables of the linear map 'register -> register after `block` zero bytes'."""
    values = np.arange(256, dtype=np.uint32)
    states = np.concatenate([values << np.uint32(8 * i) for i in range(4)]).astype(np.uint32)
    after = _blocks(states, np.zeros((states.size, block), np.uint8))
    return tuple([int(v) for v in after[256 * i:256 * (i + 1)]] for i in range(4))


def _accelerated() -> Callable[[bytes], int] | None:
    """A C implementation of CRC-32C when one is installed (google-crc32c or crc32c from PyPI)."""
    for module, function in (("google_crc32c", "value"), ("crc32c", "crc32c")):
        try:
            return getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError):
            continue
    return None


_FAST = _accelerated()


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C of `data` (the checksum TFRecord, iSCSI and ext4 use).

    Uses google-crc32c or crc32c when installed (microseconds per record), else numpy.

    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    if _FAST is not None:
        return int(_FAST(bytes(data)))
    return crc32c_numpy(data)


def crc32c_numpy(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C in numpy: blocks in parallel, then combined in order (about 0.5 ms for 10 kB)."""
    view = memoryview(data).cast("B")
    n = len(view)
    if n < 256:
        return _bytewise(0xFFFFFFFF, view) ^ 0xFFFFFFFF
    block = 1 << max(4, min(16, round(np.log2(np.sqrt(n)))))
    head = n % block
    state = _bytewise(0xFFFFFFFF, view[:head])
    arr = np.frombuffer(view, np.uint8, offset=head).reshape(-1, block)
    # The map is linear: each block's register from zero, combined in order through 'shift by one block'.
    parts = [int(v) for v in _blocks(np.zeros(arr.shape[0], np.uint32), arr)]
    t0, t1, t2, t3 = _shift_tables(block)
    for part in parts:
        state = t0[state & 0xFF] ^ t1[(state >> 8) & 0xFF] ^ t2[(state >> 16) & 0xFF] ^ t3[state >> 24] ^ part
    return state ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """TFRecord's masked CRC-32C: rotate right by 15 bits, add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(record: bytes) -> bytes:
    """One record in TFRecord framing: length, its CRC, the data, its CRC."""
    length = struct.pack("<Q", len(record))
    return b"".join((length, struct.pack("<I", masked_crc32c(length)), record,
                     struct.pack("<I", masked_crc32c(record))))


def read_records(data: bytes) -> Iterator[bytes]:
    """The records of a TFRecord file's bytes, checking every CRC; ValueError when damaged."""
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"TFRecord data truncated in a record header at byte {pos}")
        length_bytes = data[pos:pos + 8]
        (length,), (crc,) = struct.unpack("<Q", length_bytes), struct.unpack("<I", data[pos + 8:pos + 12])
        if crc != masked_crc32c(length_bytes):
            raise ValueError(f"TFRecord length CRC mismatch at byte {pos}")
        end = pos + 12 + length
        if end + 4 > len(data):
            raise ValueError(f"TFRecord data truncated in the record at byte {pos}")
        record = data[pos + 12:end]
        if struct.unpack("<I", data[end:end + 4])[0] != masked_crc32c(record):
            raise ValueError(f"TFRecord data CRC mismatch in the record at byte {pos}")
        yield record
        pos = end + 4


# ---------------------------------------------------------------- protobuf encoding of tf.train.Example

def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values take 10 bytes, as protobuf writes them
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(values: Sequence[Value]) -> bytes:
    if all(isinstance(v, (bytes, bytearray)) for v in values):
        return _field(1, b"".join(_field(1, bytes(v)) for v in values))  # Feature.bytes_list
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        packed = b"".join(_varint(int(v)) for v in values)
        return _field(3, _field(1, packed))  # Feature.int64_list, packed
    raise TypeError(f"a feature holds only bytes or only ints, got {[type(v).__name__ for v in values]}")


def encode_example(features: Mapping[str, Iterable[Value]]) -> bytes:
    """Serialize a `tf.train.Example` (features in sorted key order, so the bytes are stable)."""
    entries = []
    for key in sorted(features):
        entry = _field(1, key.encode("utf-8")) + _field(2, _feature(list(features[key])))
        entries.append(_field(1, entry))  # Features.feature map entry
    return _field(1, b"".join(entries))  # Example.features
