"""harness.machine.disks without QEMU: blkdebug rules, -drive words, the
config checks, the qemu-io dump parser and query-blockstats by name."""

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.machine import disks
from harness.machine.disks import DiskError, DiskSpec
from harness.machine.qemu import QemuConfig, build_argv

RUN = Path("/run/m1")


def test_blkdebug_config_one_section_per_rule():
    text = disks.blkdebug_config((DiskError("read", sector=8), DiskError("write", once=True,
                                                                         errno=28)))
    assert text == ('[inject-error]\nevent = "read_aio"\nerrno = "5"\nonce = "off"\n'
                    'iotype = "read"\nsector = "8"\n\n'
                    '[inject-error]\nevent = "write_aio"\nerrno = "28"\nonce = "on"\n'
                    'iotype = "write"\n')


def test_flush_rule_uses_flush_to_disk():
    assert 'event = "flush_to_disk"' in disks.blkdebug_config((DiskError("flush"),))


def test_drive_words_qcow2_by_ide_index():
    assert disks.drive_args(DiskSpec("hdc"), RUN) == [
        "-drive", "if=ide,index=2,id=hdc,media=disk,format=qcow2,file=/run/m1/hdc.qcow2"]


def test_drive_words_readonly():
    assert disks.drive_args(DiskSpec("hda", readonly=True), RUN)[1].startswith(
        "if=ide,index=0,id=hda,media=disk,readonly=on,format=qcow2")


def test_error_disk_is_raw_behind_blkdebug():
    spec = DiskSpec("hdb", errors=(DiskError("read"),))
    assert spec.file_name() == "hdb.raw"
    assert disks.drive_args(spec, RUN) == [
        "-drive", "if=ide,index=1,id=hdb,media=disk,format=raw,file.driver=blkdebug,"
                  "file.config=/run/m1/hdb.blkdebug,file.image.driver=file,"
                  "file.image.filename=/run/m1/hdb.raw"]
    assert not disks.can_snapshot((DiskSpec("hda"), spec))
    assert disks.can_snapshot((DiskSpec("hda"),))


def test_argv_has_each_disk(tmp_path):
    kernel = tmp_path / "k.elf"
    kernel.write_bytes(b"")
    cfg = QemuConfig(kernel=kernel, disks=(DiskSpec("hda"), DiskSpec("hdd")))
    argv = build_argv(cfg, RUN, "qemu-system-i386")
    drives = [argv[i + 1] for i, word in enumerate(argv) if word == "-drive"]
    assert [d.split(",")[1] for d in drives if d.startswith("if=ide")] == ["index=0", "index=3"]


def test_configs_with_different_disks_differ(tmp_path):
    """The pool keys snapshots by config: different disks, different machines."""
    kernel = tmp_path / "k.elf"
    a = QemuConfig(kernel=kernel, disks=(DiskSpec("hda"),))
    assert a != QemuConfig(kernel=kernel, disks=(DiskSpec("hda", size="8M"),))
    assert a != QemuConfig(kernel=kernel)
    assert a == QemuConfig(kernel=kernel, disks=(DiskSpec("hda"),))
    assert len({a, QemuConfig(kernel=kernel, disks=(DiskSpec("hda"),))}) == 1


@pytest.mark.parametrize("spec, message", [
    (DiskSpec("sda"), "the IDE disks are"),
    (DiskSpec("hda", size="lots"), "size"),
    (DiskSpec("hda", image=Path("/nonexistent.img")), "does not exist"),
    (DiskSpec("hda", errors=(DiskError("trim"),)), "error op"),
    (DiskSpec("hda", errors=(DiskError("read", sector=-1),)), "negative"),
])
def test_validate_refuses(spec, message):
    with pytest.raises(ConfigError, match=message):
        disks.validate((spec,))


def test_validate_refuses_a_disk_twice():
    with pytest.raises(ConfigError, match="twice"):
        disks.validate((DiskSpec("hda"), DiskSpec("hda", size="1M")))


def test_qemu_io_dump_parsed():
    text = ("00000000:  41 42 43 00 ff 10 20 30 40 50 60 70 80 90 a0 b0  ABC.............\n"
            "00000010:  01 02  ..\n"
            "read 18/18 bytes at offset 0\n")
    assert disks.parse_qemu_io_dump(text) == bytes.fromhex(
        "414243 00ff1020304050607080 90a0b0 0102")


def test_blockstats_by_name_keeps_named_disks():
    result = [{"device": "snapshots", "stats": {"rd_operations": 9}},
              {"device": "hda", "stats": {"rd_operations": 3, "wr_bytes": 4096}}]
    stats = disks.blockstats_by_name(result, ("hda",))
    assert list(stats) == ["hda"]
    assert stats["hda"]["rd_operations"] == 3 and stats["hda"]["wr_bytes"] == 4096
    assert stats["hda"]["flush_operations"] == 0


def test_raw_image_cached_by_content():
    a = disks.raw_image({1: b"xy"}, "1M")
    assert a == disks.raw_image({1: b"xy"}, "1M")
    assert a != disks.raw_image({1: b"xz"}, "1M")
    data = a.read_bytes()
    assert len(data) == 1 << 20 and data[512:514] == b"xy" and data[:512] == bytes(512)


def test_latency_disk_is_null_aio_with_a_geometry():
    """No image, every request answered late; a geometry on the device so QEMU
    does not read sector 0 at start-up to guess one."""
    spec = DiskSpec("hdd", size="1M", latency_ms=2600)
    assert spec.format == "null" and not disks.can_snapshot((spec,))
    assert disks.drive_args(spec, RUN) == [
        "-drive", "if=none,id=hdd,driver=null-aio,size=1048576,read-zeroes=on,"
                  "latency-ns=2600000000",
        "-device", "ide-hd,drive=hdd,bus=ide.1,unit=1,cyls=2,heads=16,secs=63"]


def test_latency_disk_takes_no_image_or_errors():
    with pytest.raises(ConfigError, match="latency disk"):
        disks.validate((DiskSpec("hda", latency_ms=5, errors=(DiskError("read"),)),))


def test_missing_qemu_io_names_the_package(tmp_path, monkeypatch):
    from harness.errors import ToolMissingError

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="qemu-utils"):
        disks.find_qemu_io(str(tmp_path / "qemu-img"))
