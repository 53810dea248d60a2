"""Running GDB in batch mode with the mm script, and reading what it printed.

Each command is preceded by an ``echo`` marker, so the transcript (stdout and
stderr merged, in order) splits into what each command printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.targets.mmverify.build import REPO

MM_SCRIPT = REPO / "harness" / "gdbcmds" / "mm.py"
MARK = "@@@ mm-test "
# "0xc0100000   0xc010c000      48 KiB  -r-  global"
REGION_ROW = re.compile(r"^(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\d+ [KM]iB\s+([-u]r[-w])( +global)?$",
                        re.MULTILINE)
# How GDB shows an exception that escaped a Python command (not a GdbError).
PYTHON_ERRORS = ("Traceback", "Python Exception", "Error occurred in Python")


@dataclass
class Transcript:
    """What one GDB run printed, by command."""

    commands: list[str]
    text: str
    returncode: int
    seen: object = None  # what run_gdb's after() hook returned

    def __getitem__(self, command: str) -> str:
        """The output of ``command`` (its first occurrence)."""
        return self.output(self.commands.index(command))

    def output(self, index: int) -> str:
        start = self.text.find(f"{MARK}{index}\n")
        assert start >= 0, f"no output for {self.commands[index]!r}:\n{self.text}"
        start += len(f"{MARK}{index}\n")
        end = self.text.find(MARK, start)
        return self.text[start:end if end >= 0 else None]

    def after(self, command: str) -> list[str]:
        """Outputs of every occurrence of ``command``, in order."""
        return [self.output(i) for i, c in enumerate(self.commands) if c == command]

    @staticmethod
    def regions(output: str) -> list[tuple[int, int, str, bool]]:
        """The rows of an ``mm map`` table: (start, end, rights, global)."""
        return [(int(m[1], 16), int(m[2], 16), m[3], bool(m[4]))
                for m in REGION_ROW.finditer(output)]


def gdb_argv(gdb: str, kernel: Path | None, setup: list[str], commands: list[str]) -> list[str]:
    """GDB in batch mode: the setup, then each command after its marker;
    ``kernel`` is the symbol file (None: a plain GDB with none)."""
    argv = [gdb, "--nx", "-batch", "-ex", "set pagination off", "-ex", "set width 0"]
    for c in setup:
        argv += ["-ex", c]
    for i, c in enumerate(commands):
        argv += ["-ex", f"echo {MARK}{i}\\n", "-ex", c]
    argv += ["-ex", f"echo {MARK}end\\n"]
    return argv + ([str(kernel)] if kernel is not None else [])
