"""Stock Debian Linux i386 as a target: the profile, and the QemuConfig of a
Linux machine for a test.

The kernel is Debian's own ``linux-image-686`` (6.1, non-PAE, 2-level paging)
booted with QEMU's Linux boot protocol (``-kernel`` bzImage, ``-initrd`` the
busybox initramfs of assets.py, ``-append "console=ttyS0 nokaslr"``), with no
symbol file: GDB knows addresses only.  The machine is ready at the busybox
prompt on the console; page faults are caught at ``exc_page_fault``, whose
address comes from ``/proc/kallsyms`` (kernel.py).  Linux has no call gate,
no record channel and no debug-exit device: ``machine.call`` and
``machine.records`` raise ConfigError naming the profile field.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from harness.machine.qemu import QemuConfig
from harness.machine.target import TargetProfile
from harness.targets.linux import assets, kernel
from harness.targets.linux.shell import PROMPT

# nokaslr: symbol addresses (and the kallsyms cache) hold across boots.
# init_on_free=1: freed pages are zeroed, so the booted machine's snapshot holds
# 25.9 MiB of machine state instead of 34.4 (freed pages keep the compressed
# kernel, the initramfs archive...), and a restore has a quarter less to load:
# loadvm 17-20 ms at best instead of 22 (both 45-65 ms when the 2-core host is
# busy).  The kernel is still Debian's, unmodified: this is one of its boot
# parameters.
DEFAULT_CMDLINE = "console=ttyS0 nokaslr init_on_free=1"
# Debian's 686 kernel boots in 64 MiB; more RAM only makes snapshots larger.
DEFAULT_MEMORY = "64M"
# Cold boot to the prompt is 4-10 s under TCG on a loaded 2-core host (XZ
# decompression alone ~1.5 s); before --timeout-scale.
BOOT_TIMEOUT = 60.0

LINUX = TargetProfile(
    name="linux",
    boot="linux",
    symbol_file=None,
    nodefaults=True,
    ready_serial=PROMPT,
    boot_timeout=BOOT_TIMEOUT,
    kernel_base=kernel.PAGE_OFFSET,
    page_fault_entry=kernel.page_fault_entry,
    read_page_fault=kernel.read_page_fault,
    panic_serial=r"Kernel panic - not syncing: ([^\r\n]*)",
    call_method=None,
    record_channel=False,
    debug_exit=False,
)


@functools.cache
def _prepared(cache: Path) -> tuple[assets.LinuxAssets, Path]:
    """Fetch (once: under the cache's lock, so xdist workers share one
    download) and build the initramfs; then cached for this process."""
    return assets.prepare(cache, offline=True)


def prepare(build_dir: Path) -> tuple[assets.LinuxAssets, Path]:
    """Debian's kernel and busybox in ``build_dir``/linux (downloaded the first
    time), and the initramfs with our probe."""
    return _prepared(Path(build_dir) / "linux")


def qemu_config(build_dir: Path, *, cmdline: str | None = None, memory: str | int | None = None,
                modules: tuple[str, ...] | list[str] = (), kernel: Path | str | None = None,
                **fields: Any) -> QemuConfig:
    """The QemuConfig of a Linux machine: Debian's kernel, our initramfs (or
    the one file in ``modules``), DEFAULT_CMDLINE.  ``fields`` are
    other QemuConfig fields (cpu, icount, qemu...)."""
    found, initrd = prepare(build_dir)
    return QemuConfig(kernel=Path(kernel) if kernel else found.vmlinuz, target=LINUX,
                      memory=memory or DEFAULT_MEMORY,
                      modules=tuple(str(m) for m in modules) or (str(initrd),),
                      cmdline=DEFAULT_CMDLINE if cmdline is None else cmdline, **fields)
