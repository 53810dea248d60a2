"""Every C file in firmware/user/ is built as a user program (no QEMU)."""

import shutil
import subprocess
from pathlib import Path

from harness.targets.mmverify.build import FIRMWARE, TOOLCHAIN

USER_SOURCES = FIRMWARE / "user"


def test_every_user_source_has_a_built_program(firmware):
    sources = {p.stem for p in USER_SOURCES.glob("*.c")}
    built = {p.stem for p in firmware.user_dir.glob("*.elf")}
    assert sources <= built, f"not built: {sorted(sources - built)}"


def _ninja(build_dir: Path) -> None:
    subprocess.run(["ninja", "-C", str(build_dir)], check=True, capture_output=True)


def test_a_new_user_source_is_built_without_reconfiguring(tmp_path):
    # A copy of the firmware tree, so the real one is never touched.
    source = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, source, ignore=shutil.ignore_patterns("__pycache__"))
    build_dir = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(source), "-B", str(build_dir), "-G", "Ninja",
                    f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}"], check=True, capture_output=True)
    _ninja(build_dir)
    assert not (build_dir / "user" / "newprog.elf").exists()

    (source / "user" / "newprog.c").write_text(
        '#include "ulib.h"\nint main(void) { return 7; }\n')
    _ninja(build_dir)  # the same build directory, no cmake run by hand
    assert (build_dir / "user" / "newprog.elf").read_bytes()[:4] == b"\x7fELF"
