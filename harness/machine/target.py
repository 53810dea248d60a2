"""What the harness must know about a kernel to boot and watch it: a target
profile.

The machine layer knows no kernel symbol.  Everything kernel-specific it
needs, how to boot the kernel, where it is ready, where it takes page faults
and how to read one, how it panics, how to call into it, comes from a
:class:`TargetProfile`, which :class:`~harness.machine.qemu.QemuConfig` carries.
Profiles for real kernels live in :mod:`harness.targets` (this repository's
firmware in ``harness.targets.mmverify``, stock Debian Linux in
``harness.targets.linux``); a new kernel needs only a profile of its own.

An operation whose field the profile leaves empty raises
:class:`~harness.errors.ConfigError` naming the field, e.g.
``machine.call`` on a target without a call method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.decode.pagefault import PageFault

BOOT_METHODS = ("multiboot", "linux", "iso")
CALL_METHODS = ("gate", "gdb")


@dataclass(frozen=True)
class CallGate:
    """A kernel's own entry point for calls from a debugger: the harness writes
    ``[function, argument bytes, arguments..., return eip]`` below ESP, jumps to
    ``trampoline`` and breaks at ``done``, where the result is in ``result``
    (a variable).  GDB's inferior calls restore every register afterwards, CR3
    included; a gate leaves the callee's changes, as a call from the kernel."""

    trampoline: str
    done: str
    result: str


@dataclass(frozen=True)
class TargetProfile:
    """A kernel as the harness sees it.  Only ``name`` is required; an empty
    field means the target cannot do that, and using it is a ConfigError."""

    name: str
    # How QEMU boots it: "multiboot" (-kernel ELF, modules as -initrd a,b,
    # -append), "linux" (-kernel bzImage, -initrd one file, -append), or "iso"
    # (QemuConfig.iso on -cdrom, through the BIOS and the image's loader).
    boot: str = "multiboot"
    # The ELF GDB reads symbols from, separate from the boot medium; None: GDB
    # runs with no symbol file (addresses only) in i386 mode.
    symbol_file: Path | None = None
    # -nodefaults: no VGA, no NIC... False for a kernel whose console needs them.
    nodefaults: bool = True
    # Where the kernel is ready for tests: a symbol or an address (the pool
    # runs to it and snapshots there), or a regular expression its serial
    # console prints when ready (the pool stops it there).
    ready: str | int | None = None
    ready_serial: str | None = None
    # Seconds from reset to ready (before --timeout-scale); None: timeouts.BOOT,
    # which suits a kernel ready in well under a second.
    boot_timeout: float | None = None
    # The start of the kernel half of every address space.
    kernel_base: int = 0xC0000000
    # Where the kernel takes #PF (a symbol, an address, or a function of the
    # machine giving the address), and how to read the fault when stopped there.
    page_fault_entry: str | int | Callable[[Any], int] | None = None
    read_page_fault: Callable[[Any], PageFault] | None = None
    # How a panic shows: an isa-debug-exit status (with ``debug_exit``), the
    # record that carries the message (with ``record_channel``), or a regular
    # expression on the serial console (group 1: the message).
    panic_exit_status: int | None = None
    panic_record: str | None = None
    panic_serial: str | None = None
    # How machine.call reaches a kernel function: "gate" (``call_gate``),
    # "gdb" (GDB's inferior calls), or None.
    call_method: str | None = None
    call_gate: CallGate | None = None
    # Virtual ranges [start, end) of the kernel's writable data that the
    # other CPUs change on their own (their per-CPU data), left out of the
    # progress watch's look at CPU 0 (harness/machine/progress.py); a
    # function of the machine.
    progress_ignore: Callable[[Any], list[tuple[int, int]]] | None = None
    # A second UART (COM2) on which only the kernel writes structured records.
    record_channel: bool = False
    # QEMU's isa-debug-exit device, for kernels that report panic/poweroff by it.
    debug_exit: bool = False
    # Refuses a configuration the kernel cannot take: called with the
    # QemuConfig and the started machine (stopped at reset, GDB attached).
    check_config: Callable[[Any, Any], None] | None = None

    def __post_init__(self) -> None:
        if self.boot not in BOOT_METHODS:
            raise ConfigError(f"target {self.name!r}: boot={self.boot!r}, expected one of "
                              f"{BOOT_METHODS}")
        if self.call_method not in (None, *CALL_METHODS):
            raise ConfigError(f"target {self.name!r}: call_method={self.call_method!r}, "
                              f"expected one of {CALL_METHODS} or None")
        if self.call_method == "gate" and self.call_gate is None:
            raise ConfigError(f"target {self.name!r}: call_method='gate' needs call_gate")

    def require(self, field: str, what: str) -> Any:
        """The value of ``field``, or ConfigError saying ``what`` needs it."""
        value = getattr(self, field)
        if value is None or value is False:
            raise ConfigError(f"{what} needs TargetProfile.{field}, which target "
                              f"{self.name!r} does not set")
        return value


# A multiboot kernel the harness knows nothing else about: boot it, stop it,
# read and write its memory and registers, walk its page tables.
PLAIN_MULTIBOOT = TargetProfile(name="multiboot")
