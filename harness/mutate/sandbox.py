"""A copy of the firmware tree with one mutant in it, and its build.

The real tree is never written.  ``apply`` copies ``firmware/`` into a
directory once and then swaps mutants in and out of that copy, so a runner
that builds mutant after mutant in one directory recompiles only the file that
changed (every write gives the file a new mtime, also when an original is put
back, so Ninja never keeps an object built from a mutant).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BuildError
from harness.mutate.generate import Mutant
from harness.targets.mmverify.build import FIRMWARE, REPO, Artifacts, build

_MARK = ".mutant"  # in the copy's root: "FILE\nID" of the mutant in it


def apply(mutant: Mutant, to: Path, root: Path = REPO) -> Path:
    """Writes ``mutant`` into the copy of ``root``'s firmware tree at
    ``to/firmware`` (copied first if missing; the previous mutant's file put
    back); returns the mutated file's path in the copy."""
    if not mutant.file.startswith("firmware/"):
        raise ValueError(f"{mutant.file} is not in the firmware tree; only firmware/ is copied")
    to = Path(to)
    copy = to / "firmware"
    if not copy.is_dir():
        to.mkdir(parents=True, exist_ok=True)
        shutil.copytree(root / "firmware", copy, ignore=shutil.ignore_patterns("__pycache__"))
    mark = to / _MARK
    if mark.is_file():
        previous = mark.read_text().splitlines()[0]
        original = (root / previous).read_bytes()
        if (to / previous).read_bytes() != original:
            (to / previous).write_bytes(original)
    target = to / mutant.file
    target.write_bytes(mutant.mutated())
    mark.write_text(f"{mutant.file}\n{mutant.id}\n")
    return target


@dataclass(frozen=True)
class BuildResult:
    status: str  # "built", or "stillborn" when the mutant does not compile
    message: str  # the compiler's output for a stillborn mutant, else ""
    artifacts: Artifacts

    @property
    def error(self) -> str:
        """The compiler's first error line of a stillborn mutant ("" if none)."""
        return next((line for line in self.message.splitlines() if ": error: " in line), "")


def build_mutant(mutant: Mutant, to: Path, root: Path = REPO) -> BuildResult:
    """Applies ``mutant`` in ``to`` (see ``apply``) and builds that copy in
    ``to/build`` with the project's CMake flow: the kernel only, unless the
    mutant is in a user program.  A compile or link error is a stillborn
    mutant, not an exception; a missing tool still raises."""
    apply(mutant, to, root)
    to = Path(to)
    target = None if mutant.file.startswith("firmware/user/") else "kernel.elf"
    try:
        artifacts = build(to / "build", source_dir=to / "firmware", target=target)
    except BuildError as e:
        text = str(e)  # from Ninja's FAILED line on: the command and the compiler's words
        return BuildResult("stillborn", text[text.find("FAILED:"):] if "FAILED:" in text else text,
                           Artifacts(to / "build"))
    return BuildResult("built", "", artifacts)


def default_files(root: Path = REPO) -> list[Path]:
    """What ``mutate`` mutates unless told otherwise: the memory manager and the
    kernel files that drive it."""
    firmware = root / "firmware" if root != REPO else FIRMWARE
    return [*sorted((firmware / "mm").glob("*.c")),
            *(firmware / "kernel" / f for f in ("syscall.c", "proc.c", "trap.c"))]
