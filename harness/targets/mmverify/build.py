"""Configure and build the firmware with CMake + Ninja.

``build()`` is incremental (Ninja decides what changed) and returns the
artifact paths.  The pytest plugin calls it once per session, under a file lock
so pytest-xdist workers share one build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BuildError, ToolMissingError

REPO = Path(__file__).resolve().parents[3]  # harness/targets/mmverify/build.py
FIRMWARE = REPO / "firmware"
TOOLCHAIN = REPO / "toolchain.cmake"
DEFAULT_BUILD_DIR = Path(os.environ.get("MMV_BUILD_DIR", REPO / "build"))


@dataclass(frozen=True)
class Artifacts:
    build_dir: Path

    @property
    def kernel(self) -> Path:
        return self.build_dir / "kernel.elf"

    @property
    def user_dir(self) -> Path:
        return self.build_dir / "user"

    def user_program(self, name: str) -> Path:
        """Path of the user program ``name`` (e.g. "nullderef")."""
        return self.user_dir / f"{name}.elf"


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise ToolMissingError(f"{tool} was not found on PATH; install it with: "
                               f"sudo apt-get install {package}")
    return path


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise BuildError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")


def build(build_dir: Path = DEFAULT_BUILD_DIR, *, build_type: str | None = None,
          source_dir: Path = FIRMWARE, target: str | None = None,
          options: dict[str, str] | None = None) -> Artifacts:
    """Configure (first time only) and build; returns where the results are.
    ``source_dir`` is another firmware tree (a mutant's copy), ``target`` one
    CMake target instead of all (e.g. "kernel.elf"), ``options`` CMake cache
    settings given at configure time (e.g. {"MMV_COVERAGE": "ON"}).  Raises ToolMissingError
    without cmake or ninja, BuildError with the tail of the output when the
    build fails."""
    cmake = _require("cmake", "cmake")
    _require("ninja", "ninja-build")
    if not (build_dir / "build.ninja").exists():
        argv = [cmake, "-S", str(source_dir), "-B", str(build_dir), "-G", "Ninja",
                f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}"]
        if build_type:
            argv.append(f"-DCMAKE_BUILD_TYPE={build_type}")
        argv += [f"-D{name}={value}" for name, value in (options or {}).items()]
        _run(argv, "cmake configure")
    _run([cmake, "--build", str(build_dir), *(["--target", target] if target else [])],
         "firmware build")
    artifacts = Artifacts(build_dir)
    if not artifacts.kernel.is_file():
        raise BuildError(f"the build succeeded but {artifacts.kernel} is missing")
    return artifacts


def default_artifacts() -> Artifacts:
    """The artifacts of the default build directory (not building anything)."""
    return Artifacts(DEFAULT_BUILD_DIR)
