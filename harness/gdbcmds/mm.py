"""GDB commands for debugging mmverify's memory manager by hand.

Load into any GDB (``make debug`` does it), from any directory, by hand or
from another GDB or Python script::

    source /path/to/repo/harness/gdbcmds/mm.py

then ``mm`` lists the commands: ``mm map``, ``mm vtop``, ``mm pt``, ``mm pmm``,
``mm heap``, ``mm faults``, ``mm procs``, ``mm set``/``mm show``.  They read
the machine through GDB itself (variables and struct fields from the kernel's
debug info, page tables in QEMU's physical-memory mode) and decode it with
the harness's pure modules (harness.decode: paging, pagefault, bitmap), so
they need nothing but GDB's own Python and show what the test suite's
harness would see.  The page-table commands need no symbols at all.

Sourcing the file again reloads the command modules (after editing them).
"""


def _mm_load() -> None:
    """Import harness.gdbcmds from the checkout this file is in and register
    the commands.  A function, so nothing but its name (deleted below) lands
    in GDB's __main__, where every sourced Python script runs."""
    import importlib
    import sys
    from pathlib import Path

    # The code object's file name, not __file__: GDB runs sourced scripts in
    # one shared __main__, and when a Python script sources this one,
    # __file__ there is still the outer script's.
    here = Path(sys._getframe().f_code.co_filename).resolve()
    repo = here.parents[2]
    # Another checkout's harness already imported (a second mm.py sourced,
    # or `harness` on GDB's own sys.path): drop it, so these modules load.
    loaded = sys.modules.get("harness")
    origin = getattr(loaded, "__file__", None)
    if loaded is not None and (origin is None
                               or not Path(origin).resolve().is_relative_to(repo)):
        for name in [n for n in sys.modules if n == "harness" or n.startswith("harness.")]:
            del sys.modules[name]
    if str(repo) in sys.path:
        sys.path.remove(str(repo))
    sys.path.insert(0, str(repo))
    module = sys.modules.get("harness.gdbcmds.commands")
    commands = (importlib.reload(module) if module is not None
                else importlib.import_module("harness.gdbcmds.commands"))
    commands.register()


_mm_load()
del _mm_load
