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
SERIAL = 5.0       # console.expect default


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
