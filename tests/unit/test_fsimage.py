"""The file-system image writer (harness/targets/mmverify/fsimage.py), held
to the ustar layout the kernel's fs/ustar.c parses: read here byte by byte,
not through tarfile, which wrote it."""

import io
import tarfile

import pytest

from harness.targets.mmverify import fsimage

FILES = {"/hello.txt": b"hello, disk\n", "/bin/prog": b"\x7fELF" + bytes(600),
         "/empty": b""}


def header(archive: bytes, offset: int) -> dict:
    h = archive[offset:offset + 512]
    checked = h[:148] + b" " * 8 + h[156:]
    return {"name": h[:100].split(b"\0", 1)[0].decode(),
            "has_nul": b"\0" in h[:100],
            "mode": int(h[100:108].strip(b"\0 "), 8),
            "size": int(h[124:136].strip(b"\0 "), 8),
            "chksum": int(h[148:156].strip(b"\0 "), 8),
            "sum": sum(checked),
            "type": h[156:157],
            "magic": h[257:263], "version": h[263:265],
            "prefix": h[345:500].split(b"\0", 1)[0]}


def test_layout_is_what_the_kernel_parses():
    archive = fsimage.ustar_archive(FILES)
    offset, seen = 0, []
    while archive[offset:offset + 512] != bytes(512):
        h = header(archive, offset)
        assert (h["magic"], h["version"], h["type"], h["prefix"]) == (b"ustar\0", b"00", b"0", b"")
        assert h["chksum"] == h["sum"] and h["has_nul"]
        data = archive[offset + 512:offset + 512 + h["size"]]
        padded_end = offset + 512 + (h["size"] + 511) // 512 * 512
        assert archive[offset + 512 + h["size"]:padded_end] == bytes(padded_end - offset - 512
                                                                     - h["size"])
        seen.append((h["name"], data, h["mode"]))
        offset = padded_end
    assert seen == [("hello.txt", FILES["/hello.txt"], 0o644),
                    ("bin/prog", FILES["/bin/prog"], 0o755), ("empty", b"", 0o644)]
    assert archive[offset:] == bytes(len(archive) - offset) and len(archive) - offset >= 1024
    assert len(archive) % 512 == 0


def test_tarfile_reads_it_back():
    with tarfile.open(fileobj=io.BytesIO(fsimage.ustar_archive(FILES))) as tar:
        got = {"/" + m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert got == FILES


def test_same_files_same_bytes_and_one_cached_image():
    a, b = fsimage.ustar_archive(FILES), fsimage.ustar_archive(dict(FILES))
    assert a == b
    first = fsimage.ustar_disk(FILES, size="1M").image
    assert fsimage.ustar_disk(dict(FILES), size="1M").image == first
    assert fsimage.ustar_disk({"/x": b"1"}, size="1M").image != first


def test_ustar_disk_names_the_disk_and_its_image():
    spec = fsimage.ustar_disk({"/a": b"abc"}, name="hdd", size="8M")
    assert (spec.name, spec.size) == ("hdd", "8M")
    archive = fsimage.ustar_archive({"/a": b"abc"})
    image = spec.image.read_bytes()
    assert len(image) == 8 << 20
    assert image[:len(archive)] == archive
    assert image[len(archive):] == bytes(len(image) - len(archive))


def test_a_directory_of_test_files_becomes_the_archive(tmp_path):
    """Every regular file under the directory, at its relative path, in path
    order; a symbolic link and an empty directory are left out."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "prog").write_bytes(b"\x7fELF" + bytes(10))
    (tmp_path / "notes.txt").write_bytes(b"notes\n")
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "notes.txt")
    spec = fsimage.ustar_disk_from_dir(tmp_path, name="hdb", size="1M")
    expected = {"/bin/prog": b"\x7fELF" + bytes(10), "/notes.txt": b"notes\n"}
    assert fsimage.directory_files(tmp_path) == expected
    assert list(fsimage.directory_files(tmp_path)) == ["/bin/prog", "/notes.txt"]
    assert spec == fsimage.ustar_disk(expected, name="hdb", size="1M")
    archive = fsimage.ustar_archive(expected)
    assert spec.image.read_bytes()[:len(archive)] == archive


def test_a_directory_that_is_not_one_is_refused(tmp_path):
    with pytest.raises(ValueError):
        fsimage.ustar_disk_from_dir(tmp_path / "missing")
    (tmp_path / "x").write_bytes(b"")
    with pytest.raises(ValueError):
        fsimage.ustar_disk_from_dir(tmp_path / "x")


@pytest.mark.parametrize("path", ["", "/", "/dir/", "/a//b", "/" + "x" * 100, "/caf\u00e9"])
def test_paths_the_kernel_cannot_hold_are_refused(path):
    with pytest.raises(ValueError):
        fsimage.ustar_archive({path: b""})


def test_longest_path_fits_the_name_field_with_its_nul():
    name = "d/" + "x" * (fsimage.PATH_MAX - 2)
    h = header(fsimage.ustar_archive({"/" + name: b"z"}), 0)
    assert (h["name"], h["has_nul"], h["prefix"]) == (name, True, b"")
