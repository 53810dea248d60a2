"""Run directories: one private folder per machine for its sockets, RAM file,
snapshot drive and logs.

All run directories of a process live under one base folder (on /dev/shm when
it exists: guest RAM files there cost no disk I/O), which the reaper removes if
the process dies without cleaning up, and :func:`atexit` removes otherwise.
Set ``MMV_RUN_BASE`` to put them elsewhere.  Unix socket paths are limited to
about 100 bytes, so the base must be short.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from harness.errors import ConfigError
from harness.transport import reaper

# Large artefacts that are not worth keeping with a failed test's logs.
BULKY = ("ram", "snapshots.qcow2", "gdb.sock", "qmp.sock", "serial.sock")

_base: Path | None = None
_base_owner = 0


def base_dir() -> Path:
    """This process's folder of run directories (created on first use)."""
    global _base, _base_owner
    if _base is None or _base_owner != os.getpid():
        parent = os.environ.get("MMV_RUN_BASE") or (
            "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir())
        _base = Path(tempfile.mkdtemp(prefix=f"mmv-{os.getpid()}-", dir=parent))
        _base_owner = os.getpid()
        reaper.watch_dir(_base)
        atexit.register(_remove_base, _base, _base_owner)
    return _base


def _remove_base(path: Path, owner: int) -> None:
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


# sun_path is 108 bytes including the terminating NUL.
UNIX_PATH_MAX = 107
LONGEST_SOCKET_NAME = "serial.sock"


def new_run_dir() -> Path:
    """A fresh run directory; ConfigError if its socket paths would not fit."""
    path = Path(tempfile.mkdtemp(prefix="run-", dir=base_dir()))
    if len(str(path / LONGEST_SOCKET_NAME)) > UNIX_PATH_MAX:
        remove(path)
        raise ConfigError(f"run directory {path} is too deep for unix socket paths "
                          f"({UNIX_PATH_MAX} bytes); set MMV_RUN_BASE to a shorter folder")
    return path


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def keep(path: Path, dest: Path) -> Path:
    """Copy the logs of run directory ``path`` to ``dest`` (bulky files skipped)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in path.iterdir():
        bulky = item.name in BULKY or item.name.startswith("ram-node")  # NUMA RAM files
        if not bulky and item.is_file():
            shutil.copy2(item, dest / item.name)
    return dest
