"""mmverify's harness: build the firmware, boot it in QEMU, drive it with GDB.

The test-facing entry point is :class:`harness.machine.Machine`; errors are in
:mod:`harness.errors`.
"""

from harness.errors import (
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
    QmpError,
    TargetStateError,
    ToolMissingError,
)
from harness.machine import Machine
from harness.qemu import QemuConfig

__all__ = [
    "BootError", "BuildError", "CallStopped", "ConfigError", "GdbError", "GuestPanic",
    "GuestTimeout", "HarnessError", "Machine", "MachineDied", "MachineError", "QemuConfig",
    "QmpError", "TargetStateError", "ToolMissingError",
]
