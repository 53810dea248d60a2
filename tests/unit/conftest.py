"""Fixtures shared by the unit tests (no QEMU)."""

import pytest


@pytest.fixture
def kernel(tmp_path):
    """A file that passes for a kernel image where only its existence is
    checked (QemuConfig.validate, build_argv)."""
    path = tmp_path / "kernel.elf"
    path.write_bytes(b"\x7fELF")
    return path
