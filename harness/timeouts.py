"""One knob for every wait the harness makes.

Each wait has a default suited to this project's 2-core CI machine; on a slower
machine set ``MMV_TIMEOUT_SCALE`` (or pytest's ``--timeout-scale``) and every
timeout is multiplied by it.
"""

from __future__ import annotations

import os

_scale = float(os.environ.get("MMV_TIMEOUT_SCALE", "1") or 1)

# Defaults, in seconds, before scaling.
BOOT = 10.0        # QEMU start to the first stop at kernel_ready
COMMAND = 5.0      # one GDB/MI command that does not run the guest
RUN = 10.0         # run_to / cont / an inferior call: the guest runs
QMP = 10.0         # one QMP command (savevm of a large guest takes a while)
# savevm/loadvm: QMP plus this per GiB of guest RAM.  Measured here (2 cores
# shared with other sessions, RAM in /dev/shm): savevm at kernel_ready took
# 0.09 s for 64 MiB, 0.64-0.70 s for 1 GiB and 6.3-18.9 s for 6 GiB (the
# spread is the load); loadvm 0.01 s, 0.13 s, 0.6-1.05 s.  6 s per GiB is
# about twice the worst rate seen (3.2 s/GiB at 6 GiB): 6 GiB gets 46 s,
# 1 GiB 16 s, 64 MiB 10.4 s.
SNAPSHOT_PER_GIB = 6.0
SERIAL = 5.0       # console.expect default
# Boot: this much more per vCPU after the first.  A kernel may wait on each AP
# it starts; this firmware gives an AP that never answers two waits on the
# CMOS clock, whose one-second steps make that 1-2 s (smp_start=off, a dead AP).
BOOT_PER_EXTRA_CPU = 2.0


def set_scale(scale: float) -> None:
    """Set the multiplier (the pytest plugin calls this for --timeout-scale).
    Raises ValueError unless it is positive."""
    global _scale
    if scale <= 0:
        raise ValueError(f"timeout scale must be positive, got {scale}")
    _scale = scale


def scaled(seconds: float) -> float:
    """``seconds`` times the current scale."""
    return seconds * _scale


def boot(base: float, cpus: int) -> float:
    """The wait from reset to a kernel's ready point (scaled): ``base`` (the
    target's, or BOOT) plus BOOT_PER_EXTRA_CPU for each vCPU past the first."""
    return scaled(base + BOOT_PER_EXTRA_CPU * (cpus - 1))


def snapshot(memory_mib: int) -> float:
    """The wait for a savevm or loadvm of a guest with ``memory_mib`` MiB of
    RAM (scaled): QEMU writes or reads all of it in that one QMP command."""
    return scaled(QMP + SNAPSHOT_PER_GIB * memory_mib / 1024)
