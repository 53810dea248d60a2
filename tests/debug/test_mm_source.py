"""harness/gdbcmds/mm.py loads from any current directory, by a relative
path, from a GDB script that is itself sourced, from a Python script (where
GDB's shared __main__ still holds the outer script's __file__), and over
another `harness` package already imported: in every case the commands are
this checkout's and work (mm show needs no target)."""

import os
import subprocess

import pytest

from harness import timeouts
from harness.targets.mmverify.build import REPO

from .gdbrun import MM_SCRIPT, PYTHON_ERRORS

OURS = str(REPO / "harness" / "gdbcmds" / "common.py")
CHECK = ["mm show", "python import harness.gdbcmds.common as c; print('from:', c.__file__)",
         "python print('main:', sorted(k for k in globals() if not k.startswith('__')))"]


def gdb_in(request, cwd, *commands: str) -> str:
    argv = [request.config.getoption("--gdb"), "--nx", "-batch"]
    for c in [*commands, *CHECK]:
        argv += ["-ex", c]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, cwd=cwd,
                          timeout=timeouts.scaled(20))
    for sign in PYTHON_ERRORS:
        assert sign not in proc.stdout, proc.stdout
    assert "kernel-base  0xc0000000  (the default)" in proc.stdout, proc.stdout
    assert f"from: {OURS}" in proc.stdout, proc.stdout
    return proc.stdout


def test_relative_path_from_another_directory(request, tmp_path):
    gdb_in(request, tmp_path, f"source {os.path.relpath(MM_SCRIPT, tmp_path)}")


def test_from_a_gdb_script_that_is_itself_sourced(request, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.gdb").write_text(f"source {MM_SCRIPT}\n")
    (tmp_path / "outer.gdb").write_text(f"source {tmp_path / 'sub' / 'inner.gdb'}\n")
    gdb_in(request, "/", f"source {tmp_path / 'outer.gdb'}")


def test_from_a_python_script_leaving_main_alone(request, tmp_path):
    outer = tmp_path / "outer.py"
    outer.write_text(f"import gdb\ngdb.execute('source {MM_SCRIPT}')\n")
    out = gdb_in(request, tmp_path, f"source {outer}")
    # Only what GDB, the outer script and CHECK (c) put there: nothing of mm.py's.
    assert "main: ['GdbRemoveReadlineFinder', 'c', 'gdb', 'sys']" in out, out


@pytest.mark.parametrize("first", ["package", "checkout"])
def test_over_another_harness_already_imported(request, tmp_path, first):
    other = tmp_path / "other"
    (other / "harness").mkdir(parents=True)
    (other / "harness" / "__init__.py").write_text("")
    if first == "package":  # a `harness` on GDB's own path, imported first
        setup = f"python import sys; sys.path.insert(0, {str(other)!r}); import harness"
    else:  # another checkout's mm.py sourced first (its harness has no gdbcmds)
        (other / "harness" / "gdbcmds").mkdir()
        script = other / "harness" / "gdbcmds" / "mm.py"
        script.write_text("import sys\nsys.path.insert(0, " + repr(str(other)) + ")\n"
                          "import harness\n")
        setup = f"source {script}"
    gdb_in(request, tmp_path, setup, f"source {MM_SCRIPT}")
