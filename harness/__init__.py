"""mmverify's harness: build the firmware, boot it in QEMU, drive it with GDB.

The test-facing entry point is :class:`harness.machine.Machine`; errors are in
:mod:`harness.errors`.  Names are imported on first use, so the pure modules
(``harness.paging``, ``harness.faults``, ``harness.bitmap``...) import with the
standard library alone: GDB's own Python loads them for the ``mm`` commands.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Machine": "harness.machine",
    "QemuConfig": "harness.qemu",
    **{name: "harness.errors" for name in (
        "ArgumentError", "BootError", "BuildError", "CallStopped", "ConfigError", "GdbError",
        "GuestPanic", "GuestTimeout", "HarnessError", "MachineDied", "MachineError",
        "MemoryRangeError", "QmpError", "TargetStateError", "ToolMissingError")},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
