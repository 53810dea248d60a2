"""What every ``mm`` command needs: memory and registers through GDB itself,
physical reads through QEMU's gdbstub, symbols, enum names, settings, and tables.

Runs inside GDB's own Python (``import gdb``), with the standard library and
the pure harness modules only; nothing here knows about the harness's MI
client.  The page-table commands (``mm map``, ``mm vtop``, ``mm pt``) work in
any GDB attached to any i386 target behind QEMU's gdbstub, with or without a
symbol file; the rest need this firmware's symbols (:func:`firmware`).
"""

from __future__ import annotations

import struct

import gdb

DEFAULT_KERNEL_BASE = 0xC0000000
PAGE_SIZE = 4096
PHYS_MODE = "maintenance packet Qqemu.PhyMemMode:{}"


class CommandError(Exception):
    """A problem the user should read as one line (turned into gdb.GdbError)."""


class Subcommand(gdb.Command):
    """Base of the ``mm`` subcommands: errors become one clear message.

    Subclasses set ``name`` (the word after ``mm``), ``usage`` and implement
    :meth:`run`.  Any gdb.error/MemoryError raised while reading the target is
    reported as ``mm NAME: ...`` instead of a Python traceback."""

    name = ""
    usage = ""
    needs_target = True    # reads the machine (else: only settings)
    needs_firmware = True  # reads this firmware's variables by name

    def __init__(self) -> None:
        super().__init__(f"mm {self.name}", gdb.COMMAND_DATA)

    def invoke(self, arg: str, from_tty: bool) -> None:
        try:
            if self.needs_target:
                require_target()
            if self.needs_firmware:
                require_firmware(f"mm {self.name}")
            self.run(gdb.string_to_argv(arg))
        except gdb.GdbError:
            raise
        except CommandError as exc:
            raise gdb.GdbError(f"mm {self.name}: {exc}\nusage: {self.usage}") from None
        except (gdb.error, gdb.MemoryError, KeyError, ValueError, IndexError) as exc:
            raise gdb.GdbError(f"mm {self.name}: {exc}{_hint()}") from None

    def run(self, argv: list[str]) -> None:
        raise NotImplementedError


def require_target() -> None:
    """GDB reads static variables from the ELF file when no target is
    attached: refuse, rather than show the image's initial values."""
    if gdb.selected_thread() is None:
        raise gdb.GdbError("mm: no live target; attach first, e.g. "
                           "'target remote <run_dir>/gdb.sock' (make debug does it)")


# The symbols every firmware-only command reads; a kernel that has them all
# is taken to be this firmware (another kernel's symbol file, or none, lacks them).
FIRMWARE_SYMBOLS = ("proc_table", "kernel_page_directory", "pmm_stats", "heap_stats",
                    "fault_log", "fault_stats")


def firmware() -> bool:
    """Whether the loaded symbols are this firmware's.  Asked anew each time:
    ``file``/``symbol-file`` can change them at any moment."""
    try:
        return all(gdb.lookup_global_symbol(name) is not None
                   or gdb.lookup_static_symbol(name) is not None
                   for name in FIRMWARE_SYMBOLS)
    except gdb.error:  # no symbol table at all
        return False


def symbols_state() -> str:
    """Which symbols GDB has, for a message saying why this firmware's are missing."""
    loaded = [o.filename for o in gdb.objfiles() if o.is_valid() and o.filename]
    return (f"the loaded symbols ({', '.join(loaded)}) are not this firmware's"
            if loaded else "no symbol file is loaded")


def firmware_missing(command: str) -> str:
    """The one message for a command that needs this firmware's symbols."""
    return (f"{command}: needs the mmverify firmware's symbols (proc_table, pmm_stats, "
            f"heap_stats, fault_log...), and {symbols_state()}; load them with "
            "'symbol-file /path/to/mmverify/build/kernel.elf'.  Without them, mm map, "
            "mm vtop and mm pt work on any i386 kernel given a CR3 (e.g. $cr3).")


def require_firmware(command: str) -> None:
    if not firmware():
        raise gdb.GdbError(firmware_missing(command))


def _hint() -> str:
    """Why kernel memory may be unreadable: the guest has not enabled paging yet."""
    try:
        paging = register("cr0") & 0x80000000
    except gdb.error:
        return ""
    return "" if paging else ("\n(paging is off: the kernel's variables are not mapped yet; "
                              "continue to kernel_ready first)")


# -- values and memory ------------------------------------------------------------------

def value(expr: str) -> gdb.Value:
    return gdb.parse_and_eval(expr)


def u32(expr: str | gdb.Value) -> int:
    """An integer (pointers and registers included) as an unsigned 32-bit number."""
    v = value(expr) if isinstance(expr, str) else expr
    if v.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
        v = v.cast(gdb.lookup_type("unsigned long"))
    elif v.type.strip_typedefs().code == gdb.TYPE_CODE_FLAGS:  # $cr3, $cr4 from QEMU
        v = v.cast(gdb.lookup_type("unsigned int"))
    return int(v) & 0xFFFFFFFF


def number(text: str, what: str) -> int:
    """A command argument: any GDB expression (0x1000, &agent_scratch, $eip)."""
    try:
        return u32(value(text))
    except gdb.error as exc:
        raise CommandError(f"cannot parse {what} {text!r}: {exc}") from None


def read(addr: int, size: int) -> bytes:
    """Virtual memory through the current page tables (GDB's own read)."""
    return bytes(gdb.selected_inferior().read_memory(addr, size))


def read_u32s(addr: int, count: int) -> tuple[int, ...]:
    return struct.unpack(f"<{count}I", read(addr, count * 4))


def count_of(array: str | gdb.Value) -> int:
    """Elements of a C array (fault_log, proc_table, a char[] field...)."""
    v = value(array) if isinstance(array, str) else array
    lo, hi = v.type.strip_typedefs().range()
    return hi - lo + 1


def register(name: str) -> int:
    return u32(value(f"${name}"))


def kernel_mode() -> bool:
    return register("cs") & 3 == 0


def enum_names(enum: str, prefix: str) -> dict[int, str]:
    """Values of a C enum mapped to names: REASON_NULL_POINTER -> null-pointer."""
    fields = gdb.lookup_type(f"enum {enum}").fields()
    return {int(f.enumval): f.name.removeprefix(prefix).lower().replace("_", "-")
            for f in fields}


def c_string(v: gdb.Value) -> str:
    """A char array field as text (up to its NUL)."""
    raw = bytes(int(v[i]) & 0xFF for i in range(count_of(v)))
    return raw.split(b"\0", 1)[0].decode(errors="replace")


class PhysReader:
    """Guest-physical memory through QEMU's gdbstub (``Qqemu.PhyMemMode``),
    for :func:`harness.decode.paging.walk`.

    Use it as a context manager around a whole walk: physical mode is switched
    on once and always switched back off, also when a read fails or the user
    interrupts.  ``read_phys`` outside a ``with`` switches around each read."""

    def __init__(self) -> None:
        self.active = False

    def __enter__(self) -> PhysReader:
        _phys_mode(True)
        self.active = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False
        _phys_mode(False)

    def read_phys(self, addr: int, size: int) -> bytes:
        if self.active:
            return self._read(addr, size)
        with self:
            return self._read(addr, size)

    @staticmethod
    def _read(addr: int, size: int) -> bytes:
        try:
            return read(addr, size)
        except gdb.MemoryError:
            raise gdb.MemoryError(f"cannot read {size} bytes of physical memory at "
                                  f"{addr:#010x}") from None


def _phys_mode(on: bool) -> None:
    try:
        out = gdb.execute(PHYS_MODE.format(int(on)), to_string=True)
    except gdb.error as exc:
        if not on:
            raise
        raise gdb.GdbError(f"mm: cannot switch to physical memory: {exc}") from None
    if '"OK"' not in out:
        if on:  # whatever it did, make sure virtual addressing is back
            gdb.execute(PHYS_MODE.format(0), to_string=True)
        raise gdb.GdbError("mm: the target refused Qqemu.PhyMemMode (QEMU's gdbstub "
                           f"is needed for physical memory): {out.strip()}")


# -- symbols -----------------------------------------------------------------------------

def symbolize(pc: int, *, return_address: bool = False) -> str:
    """``function+offset (file.c:line)`` for a code address, as far as known.

    The name comes from the ELF symbols (``info symbol``: exact offsets, also
    for code without debug info), else from the debug info's blocks; the line
    from the line table.  For a return address (a recorded caller) the line is
    the one of the call instruction just before it."""
    if pc == 0:
        return "-"
    text = gdb.execute(f"info symbol {pc:#x}", to_string=True).strip()
    name = None  # "kmalloc + 12 in section .text", or "No symbol matches ..."
    if not text.startswith("No symbol"):
        name, _, offset = text.split(" in section")[0].partition(" + ")
        name += f"+{int(offset):#x}" if offset.isdigit() else ""
    if name is None:
        try:
            block = gdb.block_for_pc(pc)
        except RuntimeError:
            block = None
        outer = None
        while block is not None:  # the outermost function: not an inlined one
            if block.function is not None:
                outer = block
            block = block.superblock
        if outer is not None:
            name = f"{outer.function.print_name}+{pc - outer.start:#x}"
    sal = gdb.find_pc_line(pc - 1 if return_address else pc)
    where = (f" ({sal.symtab.filename.rsplit('/', 1)[-1]}:{sal.line})"
             if sal.symtab is not None and sal.line else "")
    return (name or "?") + where


def symbol_address(name: str) -> int | None:
    try:
        return u32(value(f"&{name}"))
    except gdb.error:
        return None


CONST_PREFIX = "harness_const_"


def firmware_const(name: str) -> int:
    """A constant the firmware exports from its C headers as the variable
    ``harness_const_NAME`` (firmware/kernel/harness_constants.c): the one
    source, instead of a copy of the #define here."""
    try:
        return u32(value(CONST_PREFIX + name))
    except gdb.error:
        raise gdb.GdbError(f"mm: the kernel exports no {CONST_PREFIX}{name}: symbols of an "
                           "older or different build? (python -m harness build)") from None


# -- settings (mm set / mm show) ---------------------------------------------------------

# What the user set; a setting not here has its default.  Kept across a
# reload of the command modules (source mm.py again), not across GDB runs.
SETTINGS: dict[str, int] = globals().get("SETTINGS", {})
# The target profile of the harness tool that started this GDB (make debug
# calls use_profile): its name and kernel base.
PROFILE: dict[str, int | str] = globals().get("PROFILE", {})


def use_profile(name: str, kernel_base: int) -> None:
    """What a harness tool knows of its target (harness.machine.target's
    TargetProfile), for the settings the user has not set."""
    PROFILE.clear()
    PROFILE.update(name=name, kernel_base=kernel_base)


def kernel_base() -> int:
    """Where the kernel half of the address space starts: what ``mm set
    kernel-base`` set, else the target profile's (``make debug`` passes it),
    else this firmware's own KERNEL_BASE (harness_const_KERNEL_BASE) when its
    symbols are loaded, else 0xC0000000."""
    return kernel_base_and_source()[0]


def kernel_base_and_source() -> tuple[int, str]:
    if "kernel-base" in SETTINGS:
        return SETTINGS["kernel-base"], "set by mm set kernel-base"
    if PROFILE:
        return int(PROFILE["kernel_base"]), f"the {PROFILE['name']} target profile"
    if firmware():
        return firmware_base(), f"the firmware's {CONST_PREFIX}KERNEL_BASE"
    return DEFAULT_KERNEL_BASE, "the default"


def firmware_base() -> int:
    """This firmware's own KERNEL_BASE, to turn its symbols' addresses into
    physical ones (whatever the user set for the split)."""
    return firmware_const("KERNEL_BASE")


# -- output --------------------------------------------------------------------------------

def human(nbytes: int) -> str:
    """Bytes as a person reads them: 512 B, 104 KiB, 63.9 MiB."""
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift:
            scaled = nbytes / (1 << shift)
            return f"{scaled:.0f} {unit}" if nbytes % (1 << shift) == 0 else f"{scaled:.1f} {unit}"
    return f"{nbytes} B"


def write(text: str) -> None:
    gdb.write(text + "\n")

