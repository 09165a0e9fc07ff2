"""A remote object as a seekable, read-only file that fetches only the byte ranges read from it.

`RangedFile(fetch, size)` serves reads through `fetch(start, length)` (S3: a GET with a Range
header). Small reads (a zip's headers) fetch a window around them; a run of sequential reads
doubles that window up to `MAX_AHEAD`, so streaming the whole object costs a GET per 16 MiB; a
read at least that large is fetched as it is and not kept. Memory stays at one window.
"""
from __future__ import annotations

import io
import os
from typing import Callable

MIN_AHEAD = 64 * 1024  # bytes fetched for a small read out of sequence: a zip's end records fit
MAX_AHEAD = 16 * 1024 * 1024  # the largest window of sequential reads


class RangedFile(io.RawIOBase):
    """A read-only, seekable file of `size` bytes whose reads go to `fetch(start, length)`."""

    def __init__(self, fetch: Callable[[int, int], bytes], size: int, name: str = "") -> None:
        super().__init__()
        self._fetch, self.size, self.name = fetch, size, name
        self._pos, self._buf, self._buf_start, self._ahead = 0, b"", 0, MIN_AHEAD

    def __repr__(self) -> str:
        return f"RangedFile({self.name!r}, size={self.size})"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset} in {self.name}")
        self._pos = base + offset
        return self._pos

    def _get(self, start: int, length: int) -> bytes:
        data = self._fetch(start, length)
        if len(data) != length:
            raise OSError(f"{self.name}: asked for {length} bytes at {start}, got {len(data)}; the object changed "
                          "while it was read? Run the same command again")
        return data

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError(f"read of closed file {self.name}")
        left = max(0, self.size - self._pos)
        size = left if size is None or size < 0 else min(size, left)
        if size == 0:
            return b""
        start, end = self._pos, self._pos + size
        buf_end = self._buf_start + len(self._buf)
        if self._buf_start <= start and end <= buf_end:
            data = self._buf[start - self._buf_start:end - self._buf_start]
        elif size >= MAX_AHEAD:
            data, self._ahead = self._get(start, size), MIN_AHEAD
        else:
            self._ahead = min(MAX_AHEAD, 2 * self._ahead) if start == buf_end else MIN_AHEAD
            self._buf, self._buf_start = self._get(start, min(left, max(size, self._ahead))), start
            data = self._buf[:size]
        self._pos = end
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._buf = b""
        super().close()
