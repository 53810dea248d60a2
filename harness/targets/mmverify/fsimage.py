"""The file-system disk's contents: a POSIX ustar archive (the kernel's
fs/ustar.c reads it; README "Files and the page cache"), written with the
standard library's tarfile.

``ustar_archive(files)`` is the archive's bytes; ``ustar_disk(files)`` a
``DiskSpec`` whose disk starts with it, and ``ustar_disk_from_dir(path)`` the
same for a directory of test files.  Paths are stored without a leading "/"
("bin/hello"); the kernel opens them as "/bin/hello".  Everything in the
header is fixed (mtime 0, owner 0, mode 0644, 0755 for ELF files) so the same
files always give the same bytes, and images are cached by that content's
hash (machine/disks.raw_image): a second test with the same files reuses the
file.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from pathlib import Path

from harness.machine.disks import DiskSpec, raw_image
from harness.targets.mmverify.build import DEFAULT_BUILD_DIR

# The kernel keeps a path in FS_PATH_MAX (128) bytes with its NUL, and this
# writer keeps every path in the header's 100-byte name field with a NUL in
# it (tarfile would split a longer one into prefix and name): 99 characters.
PATH_MAX = 99
ELF_MAGIC = b"\x7fELF"
CACHE_DIR = DEFAULT_BUILD_DIR / "fsimages"  # images tests/fs builds itself


def archive_path(path: str) -> str:
    """``path`` as the archive stores it: no leading "/", checked."""
    stored = path.lstrip("/")
    if not stored or stored.endswith("/") or "//" in stored:
        raise ValueError(f"not a file path: {path!r}")
    if len(stored) > PATH_MAX or not stored.isascii():
        raise ValueError(f"{path!r}: an ASCII path of at most {PATH_MAX} characters "
                         f"(without the leading '/') fits the kernel's table")
    return stored


def ustar_archive(files: Mapping[str, bytes]) -> bytes:
    """The ustar archive holding ``files`` (path -> contents), in the
    mapping's order, ended by tarfile's two zero blocks."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(archive_path(path))
            info.size = len(data)
            info.mode = 0o755 if data.startswith(ELF_MAGIC) else 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def raw_disk(data: bytes, name: str = "hdb", size: str = "64M") -> DiskSpec:
    """A disk ``name`` of ``size`` whose first bytes are ``data`` (the rest
    zeros): for archives a test breaks on purpose."""
    return DiskSpec(name=name, size=size, image=raw_image({0: data}, size))


def ustar_disk(files: Mapping[str, bytes], name: str = "hdb", size: str = "64M") -> DiskSpec:
    """The file-system disk holding ``files`` (path -> contents)."""
    return raw_disk(ustar_archive(files), name, size)


def directory_files(directory: Path) -> dict[str, bytes]:
    """Every regular file under ``directory`` as {"/relative/path": contents},
    sorted by path so the archive does not depend on the directory's order.
    Symbolic links and other non-files are left out (the kernel skips them
    anyway); a path the kernel cannot hold is refused by archive_path."""
    files = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files["/" + path.relative_to(directory).as_posix()] = path.read_bytes()
    return files


def ustar_disk_from_dir(directory: Path, name: str = "hdb", size: str = "64M") -> DiskSpec:
    """The file-system disk holding every file under ``directory``, at its
    path relative to it ("dir/bin/hello" is "/bin/hello")."""
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory")
    return ustar_disk(directory_files(directory), name, size)
