"""Fetching the Linux target's packages: the errors a host without apt or
without the i386 architecture gets, and the cache (no network, no QEMU)."""

from __future__ import annotations

import json
import subprocess

import pytest

from harness.errors import ConfigError, ToolMissingError
from harness.targets.linux import assets


def fake_run(outputs: dict[str, str]):
    def run(argv, *, cwd=None, what):
        for key, out in outputs.items():
            if key in " ".join(argv):
                return out
        raise AssertionError(f"unexpected command {argv}")
    return run


def test_a_host_without_the_i386_architecture_is_told_the_command(monkeypatch) -> None:
    monkeypatch.setattr(assets, "_run", fake_run({"--print-architecture": "amd64\n",
                                                  "--print-foreign-architectures": "arm64\n"}))
    with pytest.raises(ConfigError, match=r"sudo dpkg --add-architecture i386 && "
                                          r"sudo apt-get update"):
        assets.check_architecture()


def test_i386_as_a_foreign_or_the_native_architecture_is_enough(monkeypatch) -> None:
    monkeypatch.setattr(assets, "_run", fake_run({"--print-architecture": "amd64\n",
                                                  "--print-foreign-architectures": "i386\n"}))
    assets.check_architecture()
    monkeypatch.setattr(assets, "_run", fake_run({"--print-architecture": "i386\n",
                                                  "--print-foreign-architectures": ""}))
    assets.check_architecture()


def test_a_host_without_apt_gets_tool_missing(monkeypatch) -> None:
    monkeypatch.setattr(assets.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError, match=r"apt-cache was not found.*apt-get install apt"):
        assets.resolve_packages()


def test_the_kernel_package_is_resolved_through_the_metapackage(monkeypatch) -> None:
    def run(argv, **kw):
        assert argv[1:] == ["depends", "linux-image-686:i386"]
        return subprocess.CompletedProcess(argv, 0, "linux-image-686:i386\n  Depends: "
                                           "linux-image-6.1.0-50-686:i386\n", "")
    monkeypatch.setattr(assets.subprocess, "run", run)
    assert assets.resolve_packages() == ["linux-image-6.1.0-50-686:i386", "busybox-static:i386"]


def test_apt_lists_without_i386_packages_say_to_update(monkeypatch) -> None:
    def run(argv, **kw):
        return subprocess.CompletedProcess(argv, 100, "", "E: No packages found")
    monkeypatch.setattr(assets.subprocess, "run", run)
    with pytest.raises(ConfigError, match=r"apt knows no linux-image-686:i386.*apt-get update"):
        assets.resolve_packages()


def test_a_complete_cache_offline_asks_nothing(tmp_path, monkeypatch) -> None:
    for name in ("vmlinuz", "busybox"):
        (tmp_path / name).write_bytes(b"x")
    packages = {"linux-image-6.1.0-50-686": "6.1.176-1", "busybox-static": "1:1.35.0"}
    (tmp_path / "assets.json").write_text(json.dumps({"packages": packages}))
    monkeypatch.setattr(assets, "_run", fake_run({}))  # any command would fail the test
    got = assets.fetch(tmp_path, offline=True)
    assert got.packages == packages and got.kernel_package == "linux-image-6.1.0-50-686"
    assert got.vmlinuz == tmp_path / "vmlinuz"


def test_a_cache_of_the_current_packages_downloads_nothing(tmp_path, monkeypatch) -> None:
    for name in ("vmlinuz", "busybox"):
        (tmp_path / name).write_bytes(b"x")
    packages = {"linux-image-6.1.0-50-686": "6.1.176-1", "busybox-static": "1:1.35.0"}
    (tmp_path / "assets.json").write_text(json.dumps({"packages": packages}))
    monkeypatch.setattr(assets, "check_architecture", lambda: None)
    monkeypatch.setattr(assets, "resolve_packages",
                        lambda: ["linux-image-6.1.0-50-686:i386", "busybox-static:i386"])
    monkeypatch.setattr(assets, "_run", fake_run({}))  # no apt-get download
    assert assets.fetch(tmp_path).packages == packages
