"""The virtio balloon from the host's side: QMP's ``balloon`` and
``query-balloon``, and the device's guest statistics (QOM properties
``guest-stats-polling-interval`` and ``guest-stats`` of the device
``QemuConfig.balloon`` adds).

QEMU works in bytes of guest RAM: ``balloon`` takes the size the guest
should have, ``query-balloon`` answers with the size it has now (RAM minus
what the guest's driver says the balloon holds).  These helpers speak MiB.
The guest carries a change out only while it runs; :func:`run_until` lets
it run until QEMU reports the size, then stops it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from harness.errors import GuestTimeout
from harness.machine.qemu import BALLOON_ID

MIB = 1 << 20
DEVICE_PATH = f"/machine/peripheral/{BALLOON_ID}"


class Monitor(Protocol):
    def command(self, name: str, *, timeout: float | None = None, **args: object) -> object: ...


def set_size(qmp: Monitor, mib: int) -> None:
    """Ask the guest to shrink (or grow back) to ``mib`` MiB."""
    qmp.command("balloon", value=mib * MIB)


def size_bytes(qmp: Monitor) -> int:
    """The guest's size as QEMU reports it (``query-balloon``'s actual), bytes."""
    reply = qmp.command("query-balloon")
    assert isinstance(reply, dict), reply
    return int(reply["actual"])


def poll_stats(qmp: Monitor, seconds: int) -> None:
    """Have QEMU ask the guest for statistics every ``seconds`` (0: stop)."""
    qmp.command("qom-set", path=DEVICE_PATH, property="guest-stats-polling-interval",
                value=seconds)


def guest_stats(qmp: Monitor) -> dict:
    """The last statistics the guest sent: {"stats": {"stat-free-memory": ...},
    "last-update": seconds}; values the guest never sent are -1."""
    reply = qmp.command("qom-get", path=DEVICE_PATH, property="guest-stats")
    assert isinstance(reply, dict), reply
    return reply


def wait_size(qmp: Monitor, mib: int, timeout: float,
              drain: Callable[[], object] = lambda: None) -> float:
    """Poll query-balloon until it reports ``mib`` MiB: the seconds it took.
    ``drain`` runs between polls: it must read the guest's serial ports,
    or a guest printing a record waits for room and the change stalls.
    Raises GuestTimeout with the size last seen."""
    start = time.monotonic()
    while (now := size_bytes(qmp)) != mib * MIB:
        drain()
        if time.monotonic() - start > timeout:
            raise GuestTimeout(f"the balloon did not bring the guest to {mib} MiB within "
                               f"{timeout:.1f} s: query-balloon says {now / MIB:g} MiB")
        time.sleep(0.001)
    return time.monotonic() - start
