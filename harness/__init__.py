"""A harness for i386 kernels: boot one in QEMU, drive it with GDB, QMP and its
serial console, and test it with pytest.  Its first target is this
repository's firmware (mmverify).

Layers, each a folder, imports pointing down only (tests/unit/test_layers.py):
``errors``/``timeouts`` (base), ``decode`` (pure), ``transport``, ``machine``,
``targets``, then the tools (``cli``, ``gdbcmds``, ``pytest_plugin``).

The errors are re-exported here (``from harness import GuestPanic``); they
import nothing, so GDB's Python can import the pure layer through this
package with nothing else installed."""

from __future__ import annotations

from harness.errors import (
    ArgumentError,
    BootError,
    BuildError,
    CallStopped,
    ConfigError,
    GdbError,
    GuestPanic,
    GuestTimeout,
    HarnessError,
    MachineDied,
    MachineError,
    MemoryRangeError,
    QmpError,
    TargetStateError,
    ToolMissingError,
)

__all__ = ["ArgumentError", "BootError", "BuildError", "CallStopped", "ConfigError", "GdbError",
           "GuestPanic", "GuestTimeout", "HarnessError", "MachineDied", "MachineError",
           "MemoryRangeError", "QmpError", "TargetStateError", "ToolMissingError"]
