"""An array of an .npz (a zip of .npy members) read by rows without loading all of it: the rows of
a stored member are read at their offset in the archive's file (on S3, by ranged GETs; see
deepaug.augmentation.inputs)."""
from __future__ import annotations

import struct
import zipfile
from typing import Any

import numpy as np

from deepaug.errors import InputError


class NpyMember:
    """One array of an .npz, readable by rows (C order) without loading all of it."""

    def __init__(self, archive: zipfile.ZipFile, name: str, where: str) -> None:
        self.archive, self.name, self.where = archive, f"{name}.npy", where
        with archive.open(self.name) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            self.offset = fh.tell()
        if dtype.hasobject:
            raise InputError(f"{where}: array {name!r} holds Python objects; save plain numeric arrays")
        self.shape, self.fortran, self.dtype = tuple(shape), fortran, dtype
        needed = self.offset + int(np.prod(self.shape, dtype=np.int64)) * dtype.itemsize
        info = archive.getinfo(self.name)
        stored = info.file_size
        self.start = data_start(archive, info) if info.compress_type == zipfile.ZIP_STORED else None
        if stored < needed:  # checked before any output: a short array would fail mid-run
            raise InputError(f"{where}: array {name!r} claims shape {self.shape} ({needed} bytes) but holds "
                             f"{stored}; the file is truncated or was not written by np.savez. Write it again")

    def rows(self, start: int, stop: int) -> np.ndarray:
        row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        if self.fortran:  # column-major rows are not contiguous: read it all (rare; np.savez writes C order)
            with self.archive.open(self.name) as fh:
                return np.load(fh, allow_pickle=False)[start:stop]
        if self.start is not None:  # stored (np.savez): the rows' bytes are where the zip says, read only them
            handle: Any = self.archive.fp
            handle.seek(self.start + self.offset + start * row)
            data = handle.read((stop - start) * row)
        else:
            with self.archive.open(self.name) as fh:
                fh.seek(self.offset + start * row)
                data = fh.read((stop - start) * row)
        return np.frombuffer(data, self.dtype).reshape((stop - start, *self.shape[1:]))


def data_start(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """Where a stored member's bytes begin in the archive's file: after its local header, whose name and
    extra field (zip64 sizes) may differ in length from the central directory's."""
    handle: Any = archive.fp
    handle.seek(info.header_offset)
    fields = struct.unpack(zipfile.structFileHeader, handle.read(zipfile.sizeFileHeader))
    if fields[0] != zipfile.stringFileHeader:
        raise zipfile.BadZipFile(f"bad local header for member {info.filename!r}")
    return info.header_offset + zipfile.sizeFileHeader + fields[10] + fields[11]
