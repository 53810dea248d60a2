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


def test_same_files_same_bytes_and_one_cached_image(tmp_path):
    a, b = fsimage.ustar_archive(FILES), fsimage.ustar_archive(dict(FILES))
    assert a == b
    first = fsimage.cached_image(a, tmp_path)
    assert fsimage.cached_image(b, tmp_path) == first and first.read_bytes() == a
    other = fsimage.cached_image(fsimage.ustar_archive({"/x": b"1"}), tmp_path)
    assert other != first and sorted(tmp_path.iterdir()) == sorted([first, other])


def test_ustar_disk_names_the_disk_and_its_image():
    spec = fsimage.ustar_disk({"/a": b"abc"}, name="hdd", size="8M")
    assert (spec.name, spec.size) == ("hdd", "8M")
    assert spec.image.read_bytes() == fsimage.ustar_archive({"/a": b"abc"})


@pytest.mark.parametrize("path", ["", "/", "/dir/", "/a//b", "/" + "x" * 100, "/caf\u00e9"])
def test_paths_the_kernel_cannot_hold_are_refused(path):
    with pytest.raises(ValueError):
        fsimage.ustar_archive({path: b""})


def test_longest_path_fits_the_name_field_with_its_nul():
    name = "d/" + "x" * (fsimage.PATH_MAX - 2)
    h = header(fsimage.ustar_archive({"/" + name: b"z"}), 0)
    assert (h["name"], h["has_nul"], h["prefix"]) == (name, True, b"")
