"""Mounting the ustar archive (fs/ustar.c): the kernel's file table against
the archive the host wrote, and archives broken on purpose refused whole,
with one FS error record naming the header, and a kernel that carries on."""

import pytest

from harness.machine.disks import DiskSpec
from harness.targets.mmverify.fsimage import raw_disk, ustar_archive, ustar_disk
from tests.fs.files import FILES


def files_on_disk(machine, kernel) -> dict[str, bytes]:
    """Each file of the kernel's table with the bytes at its data offset,
    read on the host from the disk image."""
    return {"/" + f["path"]: machine.read_disk("hdb", f["data_offset"], f["size"])
            for f in kernel.fs_files()}


@pytest.mark.machine(disks=[ustar_disk(FILES)])
def test_the_table_is_the_archive(machine, kernel):
    [record] = machine.records("FS")
    assert record.fields == {"dev": "hdb", "files": "3",
                             "bytes": str(sum(len(d) for d in FILES.values())), "skipped": "0"}
    assert files_on_disk(machine, kernel) == FILES
    assert [(f["ino"], f["mode"]) for f in kernel.fs_files()] == [(1, 0o644), (2, 0o644),
                                                                  (3, 0o644)]


@pytest.mark.machine(disks=[ustar_disk(FILES)], cmdline="fs=off")
def test_fs_off_mounts_nothing(machine, kernel):
    assert [r.fields for r in machine.records("FS")] == [
        {"dev": "none", "files": "0", "bytes": "0", "skipped": "0"}]
    assert kernel.fs_files() == []


@pytest.mark.machine(disks=[DiskSpec("hdd", size="1M", image=ustar_disk(FILES).image)],
                     cmdline="fs=hdd")
def test_fs_names_the_disk(machine, kernel):
    assert machine.records("FS")[0]["dev"] == "hdd"
    assert {"/" + f["path"] for f in kernel.fs_files()} == set(FILES)


def test_no_disk_no_file_system(machine, kernel):
    assert machine.records("FS")[0].fields["dev"] == "none" and kernel.fs_files() == []


# -- hostile archives -------------------------------------------------------------

SECOND = 1024  # the second header: hello.txt's header and one block of its data before it


def field(archive: bytes, header: int, offset: int, value: bytes, checksum: bool = True) -> bytes:
    """``archive`` with ``value`` at ``offset`` in the header at byte
    ``header``, its checksum made right again unless ``checksum`` is False."""
    data = bytearray(archive)
    data[header + offset:header + offset + len(value)] = value
    if checksum:
        block = data[header:header + 512]
        block[148:156] = b" " * 8
        data[header + 148:header + 156] = b"%06o\0 " % sum(block)
    return bytes(data)


GOOD = ustar_archive(FILES)
HOSTILE = {
    "checksum": field(GOOD, SECOND, 0, b"X", checksum=False),
    "magic": field(GOOD, SECOND, 257, b"ustaX\0"),
    # 2 MiB declared on a 1 MiB disk: the data would run past its end
    "past-end": field(GOOD, SECOND, 124, b"%011o\0" % (2 << 20)),
    "size": field(GOOD, SECOND, 124, b"12345z78901\0"),
    "mode": field(GOOD, SECOND, 100, b"0x644\0\0\0"),
    "name": field(GOOD, SECOND, 0, b"n" * 100),            # no NUL in the name field
    "path-too-long": field(field(GOOD, SECOND, 345, b"p" * 60 + b"\0"), SECOND, 0,
                           b"q" * 70 + b"\0"),
}


@pytest.mark.parametrize("kind", [
    pytest.param(kind, marks=pytest.mark.machine(disks=[raw_disk(data, size="1M")]))
    for kind, data in sorted(HOSTILE.items())])
def test_a_hostile_header_refuses_the_archive(machine, kernel, kind):
    """The first header is fine, the second broken: nothing is mounted (not
    even the first file), one record names the header, and the kernel is up
    (kernel_ready reached, the invariants hold at the end)."""
    assert [r.fields for r in machine.records("FS")] == [
        {"error": kind, "dev": "hdb", "offset": str(SECOND)}]
    assert kernel.fs_files() == [] and kernel.read_struct("fs_state", "fs_state")["dev"] == 0


@pytest.mark.machine(disks=[ustar_disk(FILES)], cmdline="fs=hdx")
def test_a_bad_fs_option_is_reported_and_the_default_used(machine, kernel):
    assert [r.fields for r in machine.records("CMDLINE") if "bad" in r.fields] == [
        {"bad": "fs", "value": "hdx", "expected": "hda|hdb|hdc|hdd|off"}]
    assert machine.records("FS")[0]["dev"] == "hdb" and len(kernel.fs_files()) == 3


# -- how many, and what kinds ---------------------------------------------------------

MAX_FILES = 128  # FS_FILES_MAX (fs/fs.h)


def empty_files(n: int) -> dict[str, bytes]:
    return {f"/f{i}": b"" for i in range(n)}


@pytest.mark.machine(disks=[ustar_disk(empty_files(MAX_FILES))])
def test_the_table_holds_128_files(machine, kernel):
    assert machine.records("FS")[0].fields["files"] == str(MAX_FILES)
    assert [f["path"] for f in kernel.fs_files()] == [f"f{i}" for i in range(MAX_FILES)]


@pytest.mark.machine(disks=[ustar_disk(empty_files(MAX_FILES + 1))])
def test_the_129th_file_refuses_the_archive(machine, kernel):
    """Each empty file is one header: the 129th is at 128 * 512."""
    assert [r.fields for r in machine.records("FS")] == [
        {"error": "too-many", "dev": "hdb", "offset": str(MAX_FILES * 512)}]
    assert kernel.fs_files() == []


def mixed_archive() -> bytes:
    """A directory, a symbolic link and a FIFO around two files, from tarfile."""
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, kind, data in (("bin", tarfile.DIRTYPE, b""), ("bin/a", tarfile.REGTYPE, b"A"),
                                 ("bin/link", tarfile.SYMTYPE, b""),
                                 ("fifo", tarfile.FIFOTYPE, b""), ("./b", tarfile.REGTYPE, b"BB")):
            info = tarfile.TarInfo(name)
            info.type, info.size = kind, len(data)
            if kind == tarfile.SYMTYPE:
                info.linkname = "a"
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.machine(disks=[raw_disk(mixed_archive(), size="1M")])
def test_only_regular_files_are_kept(machine, kernel):
    """Directories are implied, the link and the FIFO skipped and counted;
    "./b" is stored as "b"."""
    assert machine.records("FS")[0].fields == {"dev": "hdb", "files": "2", "bytes": "3",
                                               "skipped": "2"}
    assert [(f["path"], f["size"]) for f in kernel.fs_files()] == [("bin/a", 1), ("b", 2)]


# -- headers other writers make ----------------------------------------------------------

FIRST = 0  # hello.txt's header

VARIANTS = {
    # numbers led by spaces and ended by a space, as some writers pad them
    "spaces": (field(field(GOOD, FIRST, 124, b"        14 "), FIRST, 100, b"   644 \0"),
               ("hello.txt", 0o14, 0o644)),
    # a prefix joined to the name with "/"
    "prefix": (field(GOOD, FIRST, 345, b"etc/conf\0"), ("etc/conf/hello.txt", 12, 0o644)),
    # a leading "/" dropped, as a leading "./" is
    "absolute": (field(GOOD, FIRST, 0, b"/abs.txt\0"), ("abs.txt", 12, 0o644)),
    # type bits in the mode field (S_IFREG and more): only the permission bits are kept
    "mode-bits": (field(GOOD, FIRST, 100, b"0170644\0"), ("hello.txt", 12, 0o644)),
    # the longest path the table holds: 127 characters, prefix "/" name
    "longest": (field(field(GOOD, FIRST, 345, b"p" * 60 + b"\0"), FIRST, 0, b"q" * 66 + b"\0"),
                ("p" * 60 + "/" + "q" * 66, 12, 0o644)),
}


@pytest.mark.parametrize("variant", [
    pytest.param(name, marks=pytest.mark.machine(disks=[raw_disk(data, size="1M")]))
    for name, (data, _) in sorted(VARIANTS.items())])
def test_headers_other_writers_make(machine, kernel, variant):
    first = kernel.fs_files()[0]
    assert (first["path"], first["size"], first["mode"]) == VARIANTS[variant][1]
    assert machine.records("FS")[0].fields["files"] == "3"


@pytest.mark.machine(disks=[raw_disk(field(field(GOOD, FIRST, 345, b"p" * 60 + b"\0"), FIRST, 0,
                                           b"q" * 67 + b"\0"), size="1M")])
def test_a_path_of_128_characters_is_refused(machine):
    assert [r.fields for r in machine.records("FS")] == [
        {"error": "path-too-long", "dev": "hdb", "offset": "0"}]


def full_disk() -> bytes:
    """An archive filling a 1 MiB disk to its last byte, no end marker: one
    file of 1 MiB less its header."""
    return ustar_archive({"/fill": bytes(range(256)) * (((1 << 20) - 512) // 256)})[:1 << 20]


@pytest.mark.machine(disks=[raw_disk(full_disk(), size="1M")])
def test_an_archive_may_end_with_the_disk(machine, kernel):
    assert [(f["path"], f["size"]) for f in kernel.fs_files()] == [("fill", (1 << 20) - 512)]
    assert machine.records("FS")[0].fields["files"] == "1"
