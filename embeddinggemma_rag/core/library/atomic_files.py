"""Files written so a kill or a power cut leaves the old file or the new one, never a torn one,
with a running checksum to tell a whole file from a damaged one."""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


class Crc32:
    """A running CRC-32: zlib's runs at several GB/s, so it costs little beside the disk."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Write `path` so a kill leaves the old file or the new one, never a torn one.

    A temp file in the same folder (so the rename stays on one file system), fsync, rename,
    then fsync the folder so the rename itself survives a power cut.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        # A full disk most often: give the space back, and keep the old file as it was.
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_directory(path.parent)


def fsync_directory(folder: Path) -> None:
    """Make a rename in `folder` durable. POSIX only: Windows cannot open a directory."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["Crc32", "atomic_write", "fsync_directory"]
