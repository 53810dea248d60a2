"""QEMU command lines and machine configurations (no QEMU started)."""

from pathlib import Path

import pytest

from harness.decode.mi_text import parse_gdb_int
from harness.errors import ConfigError, ToolMissingError
from harness.machine.machine import location
from harness.machine.qemu import QemuConfig, build_argv, find_binary, parse_memory
from harness.machine.target import TargetProfile
from harness.targets.mmverify.profile import profile


def argv_for(cfg, tmp_path):
    return build_argv(cfg, tmp_path / "run", "/usr/bin/qemu-system-i386")


def option_values(argv, option):
    return [argv[i + 1] for i, a in enumerate(argv) if a == option]


@pytest.fixture
def firmware_like(firmware):
    """The firmware's profile (its kernel.elf is built, not booted)."""
    return profile(firmware)


def test_every_channel_is_a_unix_socket_in_the_run_directory(kernel, tmp_path, firmware_like):
    argv = argv_for(QemuConfig(kernel=kernel, target=firmware_like), tmp_path)
    chardevs = option_values(argv, "-chardev")
    assert len(chardevs) == 4  # gdbstub, QMP, COM1 (console), COM2 (record channel)
    assert option_values(argv, "-serial") == ["chardev:ser0", "chardev:ser1"]
    for spec in chardevs:
        assert spec.startswith("socket,") and f"path={tmp_path / 'run'}/" in spec
        assert "server=on,wait=off" in spec
    assert not any("tcp" in a or "port=" in a for a in argv)
    assert "-S" in argv and "-no-reboot" in argv
    assert option_values(argv, "-display") == ["none"]


def test_ram_is_a_shared_file_of_the_requested_size(kernel, tmp_path):
    argv = argv_for(QemuConfig(kernel=kernel, memory="128M"), tmp_path)
    backend = option_values(argv, "-object")[0]
    assert "size=128M" in backend and "share=on" in backend
    assert option_values(argv, "-m") == ["128M"]


def test_modules_cmdline_cpu_and_icount(kernel, tmp_path):
    cfg = QemuConfig(kernel=kernel, cpu="qemu32", cmdline="aslr=off",
                     modules=("/a.elf x=1", "/b.elf"), icount=True)
    argv = argv_for(cfg, tmp_path)
    assert option_values(argv, "-initrd") == ["/a.elf x=1,/b.elf"]
    assert option_values(argv, "-append") == ["aslr=off"]
    assert option_values(argv, "-cpu") == ["qemu32"]
    assert option_values(argv, "-icount")[0].startswith("shift=0")


def test_debug_exit_device_is_present(kernel, tmp_path, firmware_like):
    devices = option_values(argv_for(QemuConfig(kernel=kernel, target=firmware_like),
                                     tmp_path), "-device")
    assert any(d.startswith("isa-debug-exit,iobase=0xf4") for d in devices)


def test_a_plain_target_gets_neither_the_record_channel_nor_the_exit_device(kernel, tmp_path):
    argv = argv_for(QemuConfig(kernel=kernel), tmp_path)
    assert option_values(argv, "-serial") == ["chardev:ser0"]
    assert not any(d.startswith("isa-debug-exit") for d in option_values(argv, "-device"))
    assert "-nodefaults" in argv


def test_a_target_that_needs_default_devices_gets_them(kernel, tmp_path):
    vga = TargetProfile(name="needs-vga", nodefaults=False)
    assert "-nodefaults" not in argv_for(QemuConfig(kernel=kernel, target=vga), tmp_path)


def test_the_linux_boot_protocol_takes_one_initramfs(kernel, tmp_path):
    linux = TargetProfile(name="linux-like", boot="linux")
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"070701")
    cfg = QemuConfig(kernel=kernel, target=linux, modules=(str(initrd),), cmdline="console=ttyS0")
    argv = argv_for(cfg, tmp_path)
    assert option_values(argv, "-initrd") == [str(initrd)]
    assert option_values(argv, "-append") == ["console=ttyS0"]
    with pytest.raises(ConfigError, match="takes one initramfs, got 2"):
        QemuConfig(kernel=kernel, target=linux, modules=(str(initrd), str(initrd))).validate()


def test_a_bad_profile_names_its_field():
    with pytest.raises(ConfigError, match="boot='floppy'"):
        TargetProfile(name="x", boot="floppy")
    with pytest.raises(ConfigError, match="call_method='gate' needs call_gate"):
        TargetProfile(name="x", call_method="gate")


@pytest.mark.parametrize("text,mib", [("64M", 64), ("1G", 1024), ("3584M", 3584), (8, 8),
                                      ("512MiB", 512)])
def test_memory_sizes(text, mib):
    assert parse_memory(text) == mib


@pytest.mark.parametrize("text", ["lots", "1T", "0M", "65537M", "-5M"])
def test_bad_memory_sizes_are_refused(text):
    with pytest.raises(ConfigError, match="memory size"):
        parse_memory(text)


def test_missing_kernel_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        QemuConfig(kernel=tmp_path / "nope.elf").validate()


def test_missing_module_is_a_config_error(kernel, tmp_path):
    with pytest.raises(ConfigError, match="module"):
        QemuConfig(kernel=kernel, modules=(str(tmp_path / "absent.elf"),)).validate()


def test_missing_binary_names_the_package():
    with pytest.raises(ToolMissingError, match="apt-get install qemu-system-x86"):
        find_binary("qemu-system-i386-does-not-exist", "install it with: sudo apt-get "
                    "install qemu-system-x86")
    with pytest.raises(ToolMissingError, match="not an executable"):
        find_binary(str(Path("/nonexistent/qemu")), "hint")


@pytest.mark.parametrize("text,value", [("5", 5), ("-3", -3), ("0xc0100000", 0xC0100000),
                                        ("(void *) 0x1000", 0x1000), ("true", 1),
                                        ("0xc0101234 <kmain+4>", 0xC0101234), ("65 'A'", 65)])
def test_gdb_values_to_ints(text, value):
    assert parse_gdb_int(text) == value


def test_breakpoint_locations_are_exact_addresses():
    assert location("kmain") == "*kmain"
    assert location(0x1000) == "*0x1000"
