"""Every test here ends with the kernel's invariants holding, the page
cache's part included (its frames are kernel references, marked
FRAME_PAGECACHE, mapped read-only: harness/targets/mmverify/invariants.py).

PROGRAMS_DISK is a file-system disk with user programs in /bin besides
tests/fs/files.py's FILES: a marker is written before the build, so its image
has a fixed name, and the session's first fixture writes it from the build."""

import os

import pytest

from harness.machine.disks import DiskSpec
from harness.targets.mmverify.fsimage import CACHE_DIR, ustar_archive
from tests.final_state import after_each_test, invariants
from tests.fs.files import FILES

pytest_runtest_call = after_each_test(invariants)

PROGRAMS = ("hello", "execer", "catfile", "fmap", "fsbench")
PROGRAMS_IMAGE = CACHE_DIR / "fs-programs.img"
PROGRAMS_DISK = DiskSpec("hdb", image=PROGRAMS_IMAGE)


@pytest.fixture(scope="session", autouse=True)
def programs_image(firmware):
    """Writes PROGRAMS_IMAGE from this build's programs (atomically: parallel
    workers write the same bytes)."""
    files = {f"/bin/{name}": firmware.user_program(name).read_bytes() for name in PROGRAMS}
    data = ustar_archive(FILES | files)  # FILES first: where their data lies is fixed
    PROGRAMS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    if not PROGRAMS_IMAGE.exists() or PROGRAMS_IMAGE.read_bytes() != data:
        tmp = PROGRAMS_IMAGE.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(PROGRAMS_IMAGE)
    return FILES | files
