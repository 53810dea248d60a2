"""The newc cpio writer for the Linux target's initramfs: exact bytes, and
what it writes parses back (no QEMU, no packages)."""

from __future__ import annotations

import stat

import pytest

from harness.targets.linux import initramfs
from harness.targets.linux.assets import INIT, initramfs_bytes
from harness.targets.linux.initramfs import Newc, parse


def header(ino: int, mode: int, nlink: int, size: int, rdev: tuple[int, int], name: str) -> bytes:
    fields = (ino, mode, 0, 0, nlink, 0, size, 0, 0, *rdev, len(name) + 1, 0)
    return b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"


def test_a_one_file_archive_is_exactly_newc() -> None:
    archive = Newc()
    archive.file("a", b"hi", 0o644)
    data = archive.finish()
    expected = (
        # magic, ino 1, mode 0100644, uid, gid, nlink 1, mtime, size 2,
        # devmajor, devminor, rdevmajor, rdevminor, namesize 2, check
        b"070701" b"00000001" b"000081A4" b"00000000" b"00000000" b"00000001" b"00000000"
        b"00000002" b"00000000" b"00000000" b"00000000" b"00000000" b"00000002" b"00000000"
        b"a\0" b"hi" b"\0\0"                      # 110 + 2 = 112, + 2 data, padded to 116
        # the trailer: ino 0, mode 0, nlink 1, namesize 11
        b"070701" b"00000000" b"00000000" b"00000000" b"00000000" b"00000001" b"00000000"
        b"00000000" b"00000000" b"00000000" b"00000000" b"00000000" b"0000000B" b"00000000"
        b"TRAILER!!!\0" b"\0\0\0")                 # 116 + 121, padded to 240
    assert len(expected) == 240
    assert data[:240] == expected
    assert len(data) == 512 and data[240:] == bytes(512 - 240)  # cpio pads to 512


def test_headers_names_and_data_are_padded_to_four_bytes() -> None:
    archive = Newc()
    archive.directory("dir")
    archive.file("dir/three", b"abc", 0o755)
    data = archive.finish()
    first = header(1, stat.S_IFDIR | 0o755, 2, 0, (0, 0), "dir")      # 110 + 4 = 114
    assert data.startswith(first + b"\0\0")                            # -> 116
    second = header(2, stat.S_IFREG | 0o755, 1, 3, (0, 0), "dir/three")
    at = 116
    assert data[at:at + len(second)] == second                         # 116 + 120 = 236
    assert data[at + len(second):at + len(second) + 4] == b"abc\0"     # -> 240
    assert data[240:246] == b"070701" and b"TRAILER!!!\0" in data[240:]
    assert len(data) % 512 == 0


def test_every_kind_of_entry_parses_back() -> None:
    archive = Newc()
    archive.directory("bin")
    archive.file("/bin/prog", b"\x7fELF" + bytes(range(256)), 0o755)
    archive.symlink("bin/sh", "/bin/busybox")
    archive.chardev("dev/console", 5, 1)
    archive.file("empty", b"")
    entries = parse(archive.finish())
    assert [e.name for e in entries] == ["bin", "bin/prog", "bin/sh", "dev/console", "empty"]
    assert [e.ino for e in entries] == [1, 2, 3, 4, 5]
    d, prog, link, console, empty = entries
    assert d.is_dir and d.perm == 0o755 and d.nlink == 2
    assert prog.is_file and prog.perm == 0o755 and prog.data == b"\x7fELF" + bytes(range(256))
    assert link.is_symlink and link.data == b"/bin/busybox"
    assert console.is_chardev and console.rdev == (5, 1) and console.perm == 0o600
    assert empty.is_file and empty.data == b""


def test_the_writer_is_deterministic() -> None:
    def build() -> bytes:
        archive = Newc()
        archive.file("x", b"1")
        return archive.finish()

    assert build() == build()


def test_bad_use_and_bad_archives_are_errors() -> None:
    archive = Newc()
    archive.file("x", b"")
    with pytest.raises(ValueError, match="duplicate"):
        archive.file("/x", b"")
    with pytest.raises(ValueError, match="bad entry name"):
        archive.file("", b"")
    data = archive.finish()
    with pytest.raises(ValueError, match="finished"):
        archive.file("y", b"")
    with pytest.raises(ValueError, match="bad magic"):
        parse(b"070702" + data[6:])
    with pytest.raises(ValueError, match="truncated"):
        parse(data[:100])
    assert initramfs.parse(data)[0].name == "x"


def test_the_linux_initramfs_holds_init_busybox_the_probe_and_the_console() -> None:
    entries = {e.name: e for e in parse(initramfs_bytes(b"BUSYBOX", b"PROBE"))}
    assert entries["init"].data == INIT.encode() and entries["init"].perm == 0o755
    assert entries["init"].data.startswith(b"#!/bin/busybox sh\n")
    assert entries["bin/busybox"].data == b"BUSYBOX" and entries["bin/busybox"].perm == 0o755
    assert entries["bin/mmvprobe"].data == b"PROBE"
    assert entries["dev/console"].rdev == (5, 1) and entries["dev/ttyS0"].rdev == (4, 64)
    assert all(entries[d].is_dir for d in ("proc", "sys", "dev", "tmp"))
