"""The Linux target's QemuConfig and QEMU command line, from a cache that
already holds the packages (no apt, no QEMU)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.machine.qemu import build_argv
from harness.targets.linux import assets, profile
from harness.targets.linux.initramfs import parse


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    cache = tmp_path / "linux"
    cache.mkdir()
    (cache / "vmlinuz").write_bytes(b"bzImage")
    (cache / "busybox").write_bytes(b"busybox")
    probe = cache / "mmvprobe"
    probe.write_bytes(b"probe")
    newer = assets.PROBE_SOURCE.stat().st_mtime + 10
    os.utime(probe, (newer, newer))  # up to date: nothing is compiled
    (cache / "assets.json").write_text(json.dumps({"packages": {
        "linux-image-6.1.0-50-686": "6.1.176-1", "busybox-static": "1:1.35.0"}}))
    profile._prepared.cache_clear()
    yield tmp_path
    profile._prepared.cache_clear()


def test_a_linux_machine_boots_debians_kernel_with_our_initramfs(build_dir: Path) -> None:
    cfg = profile.qemu_config(build_dir, cpu="qemu32")
    cache = build_dir / "linux"
    assert cfg.target is profile.LINUX and cfg.kernel == cache / "vmlinuz"
    assert cfg.cmdline == "console=ttyS0 nokaslr init_on_free=1" and cfg.memory == "64M"
    (initrd,) = cfg.modules
    names = {e.name: e.data for e in parse(Path(initrd).read_bytes())}
    assert names["bin/busybox"] == b"busybox" and names["bin/mmvprobe"] == b"probe"
    assert profile.qemu_config(build_dir, cpu="qemu32") == cfg, "equal configs share a machine"

    argv = build_argv(cfg, build_dir / "run", "qemu-system-i386")
    joined = " ".join(argv)
    assert argv[argv.index("-kernel") + 1] == str(cache / "vmlinuz")
    assert argv[argv.index("-initrd") + 1] == initrd
    assert argv[argv.index("-append") + 1] == "console=ttyS0 nokaslr init_on_free=1"
    assert "-nodefaults" in argv
    assert "isa-debug-exit" not in joined and "records.sock" not in joined  # Linux has neither


def test_the_profile_says_what_linux_lacks() -> None:
    linux = profile.LINUX
    assert (linux.boot, linux.symbol_file, linux.call_method) == ("linux", None, None)
    assert not linux.record_channel and not linux.debug_exit
    assert linux.ready_serial == "mmv# " and linux.boot_timeout >= 30
