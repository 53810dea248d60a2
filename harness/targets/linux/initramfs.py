"""A newc ("070701") cpio writer and reader, standard library only.

The Linux kernel unpacks an initramfs in this format (the kernel's
Documentation/driver-api/early-userspace/buffer-format.rst): per entry a
110-byte ASCII header of thirteen 8-digit hex fields, the NUL-terminated name,
padding to 4 bytes, the data, padding to 4 bytes; a last entry named
``TRAILER!!!``.  The writer is deterministic (inode numbers count from 1,
every mtime, uid and gid 0), so the same inputs always give the same bytes and
the archive can be cached by content.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
HEADER_SIZE = 110
FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor",
          "rdevmajor", "rdevminor", "namesize", "check")


def _pad4(n: int) -> int:
    return -n % 4


@dataclass(frozen=True)
class Entry:
    """One archive member as read back."""

    name: str
    mode: int
    data: bytes = b""
    ino: int = 0
    nlink: int = 1
    rdev: tuple[int, int] = (0, 0)

    is_dir = property(lambda self: stat.S_ISDIR(self.mode))
    is_file = property(lambda self: stat.S_ISREG(self.mode))
    is_symlink = property(lambda self: stat.S_ISLNK(self.mode))
    is_chardev = property(lambda self: stat.S_ISCHR(self.mode))
    perm = property(lambda self: stat.S_IMODE(self.mode))


class Newc:
    """Build an archive in memory: add entries, then :meth:`finish`.

    Names are relative to the root ("init", "bin/busybox"); a leading "/" is
    dropped, as the kernel would ignore it anyway.
    """

    def __init__(self) -> None:
        self._out = bytearray()
        self._ino = 1
        self._names: set[str] = set()
        self._done = False

    def _entry(self, name: str, mode: int, data: bytes = b"", *, nlink: int = 1,
               rdev: tuple[int, int] = (0, 0)) -> None:
        if self._done:
            raise ValueError("the archive is finished")
        name = name.lstrip("/")
        if not name or "\0" in name:
            raise ValueError(f"bad entry name {name!r}")
        if name in self._names:
            raise ValueError(f"duplicate entry {name!r}")
        self._names.add(name)
        self._write(name, mode, data, nlink=nlink, rdev=rdev, ino=self._ino)
        self._ino += 1

    def _write(self, name: str, mode: int, data: bytes, *, nlink: int, rdev: tuple[int, int],
               ino: int) -> None:
        encoded = name.encode() + b"\0"
        values = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        self._out += MAGIC + b"".join(b"%08X" % v for v in values) + encoded
        self._out += bytes(_pad4(len(self._out)))
        self._out += data
        self._out += bytes(_pad4(len(self._out)))

    def directory(self, name: str, perm: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | perm, nlink=2)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int, perm: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def finish(self) -> bytes:
        """The archive: the entries, the trailer, padded to 512 bytes as cpio does."""
        if not self._done:
            self._write(TRAILER, 0, b"", nlink=1, rdev=(0, 0), ino=0)
            self._out += bytes(-len(self._out) % 512)
            self._done = True
        return bytes(self._out)


def parse(archive: bytes) -> list[Entry]:
    """Every entry of a newc archive up to the trailer (not included).
    ValueError for anything that is not well-formed newc."""
    entries: list[Entry] = []
    pos = 0
    while True:
        header = archive[pos:pos + HEADER_SIZE]
        if len(header) < HEADER_SIZE:
            raise ValueError(f"truncated header at offset {pos}")
        if header[:6] != MAGIC:
            raise ValueError(f"bad magic {header[:6]!r} at offset {pos}")
        try:
            values = dict(zip(FIELDS, (int(header[6 + 8 * i:14 + 8 * i], 16)
                                       for i in range(13)), strict=True))
        except ValueError:
            raise ValueError(f"bad header field at offset {pos}") from None
        name_start = pos + HEADER_SIZE
        name_end = name_start + values["namesize"]
        raw_name = archive[name_start:name_end]
        if len(raw_name) != values["namesize"] or not raw_name.endswith(b"\0"):
            raise ValueError(f"bad name at offset {pos}")
        name = raw_name[:-1].decode()
        data_start = name_end + _pad4(name_end)
        data_end = data_start + values["filesize"]
        if data_end > len(archive):
            raise ValueError(f"truncated data of {name!r}")
        if name == TRAILER:
            return entries
        entries.append(Entry(name, values["mode"], bytes(archive[data_start:data_end]),
                             values["ino"], values["nlink"],
                             (values["rdevmajor"], values["rdevminor"])))
        pos = data_end + _pad4(data_end)
