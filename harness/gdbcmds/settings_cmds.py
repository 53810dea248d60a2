"""``mm set`` and ``mm show``: what the commands cannot learn from the
machine.  One setting so far, the kernel base: where the kernel half of the
address space starts, which ``mm map`` uses to split its summary."""

from __future__ import annotations

from harness.gdbcmds.common import (
    SETTINGS,
    CommandError,
    Subcommand,
    kernel_base_and_source,
    number,
    write,
)

NAMES = ("kernel-base",)


def show() -> None:
    base, source = kernel_base_and_source()
    write(f"kernel-base  {base:#010x}  ({source})")


class SetCommand(Subcommand):
    """Change an mm setting: mm set [kernel-base ADDR|default]

    kernel-base: where the kernel half of every address space starts; "mm
    map" sums what is mapped below and above it.  ADDR is any GDB expression;
    "default" forgets the setting: the target profile's kernel base when a
    harness tool started GDB (make debug), else this firmware's KERNEL_BASE
    (from its linker script) when its symbols are loaded, else 0xc0000000.  Another
    kernel with a different split (a 2G/2G one: mm set kernel-base 0x80000000)
    needs it set.  Without arguments: the settings and where each value comes
    from, as "mm show" lists them.  Settings last until GDB exits (sourcing
    mm.py again keeps them)."""

    name = "set"
    usage = "mm set [kernel-base ADDR|default]"
    needs_target = False
    needs_firmware = False

    def run(self, argv: list[str]) -> None:
        if not argv:
            show()
            return
        if argv[0] not in NAMES:
            raise CommandError(f"unknown setting {argv[0]!r} (settings: {', '.join(NAMES)})")
        if len(argv) != 2:
            raise CommandError(f"{argv[0]} needs one value")
        if argv[1] == "default":
            SETTINGS.pop(argv[0], None)
        else:
            base = number(argv[1], "kernel base")
            if base % (4 << 20):
                raise CommandError(f"kernel base {base:#x} is not 4 MiB aligned (it starts a "
                                   "page directory entry)")
            SETTINGS[argv[0]] = base
        show()


class ShowCommand(Subcommand):
    """List the mm settings and where each value comes from: mm show

    See "help mm set"."""

    name = "show"
    usage = "mm show"
    needs_target = False
    needs_firmware = False

    def run(self, argv: list[str]) -> None:
        if argv:
            raise CommandError("mm show takes no arguments")
        show()


COMMANDS = (SetCommand, ShowCommand)
