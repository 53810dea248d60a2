"""The firmware's paging modes: which one it picks (paging=auto|legacy|pae
and the CPU), what it says and sets (the VMM record, vmm_mode/nx_enabled,
CR4.PAE, EFER.NXE), the kernel's W^X as the walker reads it, PAGE_EXEC
through the VMM API, W^X refusals, and exec-nx faults from ring 3 and ring 0.
Everything is judged from outside: control registers through GDB, entries
through the walker, records from the kernel's record channel."""

import pytest

from harness import GuestPanic
from harness.machine.faults import expect_fault
from harness.targets.mmverify.kernel import Kernel
from harness.targets.mmverify.processes import Userland
from tests.expected import KERNEL_BASE, NX, PAGE_EXEC, kernel_mapping_reaches_every

PRESENT, WRITE, USER, OWNED = 0x1, 0x2, 0x4, 0x200
CR4_PAE, CR4_PGE, EFER_NXE = 0x20, 0x80, 0x800
USER_VA = 0x40000000
PAGE = 4096
EINVAL = -22


def mode_of(machine) -> tuple[str, int, int, int, int]:
    """(record's mode, vmm_mode, nx_enabled, CR4.PAE, EFER.NXE)."""
    vmm = machine.records("VMM")[0]
    return (vmm["mode"], machine.read_u32(machine.symbol("vmm_mode")),
            machine.read_u32(machine.symbol("nx_enabled")),
            machine.reg("cr4") & CR4_PAE, machine.reg("efer") & EFER_NXE)


def requires_nx(machine) -> None:
    if not machine.read_u32(machine.symbol("nx_enabled")):
        pytest.skip("NX is off: legacy paging, or a CPU model without NX (--cpu)")


# -- which mode ----------------------------------------------------------------------


@pytest.mark.machine(cmdline="paging=auto", cpu="max")  # the default, named: not the matrix
def test_auto_on_cpu_max_is_pae_with_nx(machine):
    vmm = machine.records("VMM")[0]
    assert (vmm["requested"], vmm["pae"], vmm["nx"]) == ("auto", "on", "on")
    assert mode_of(machine) == ("pae", 1, 1, CR4_PAE, EFER_NXE)
    cr3 = machine.reg("cr3")
    assert vmm.int("kernel_pdpt") == cr3 == machine.symbol("kernel_page_directory") - KERNEL_BASE
    mode = machine.paging_mode()
    assert mode is not None and mode.pae and mode.nxe
    cpu = machine.records("CPU")[0]
    assert (cpu["pae"], cpu["nx"]) == ("1", "1")


@pytest.mark.machine(cmdline="paging=legacy", cpu="max")
def test_paging_legacy_on_cpu_max_leaves_pae_and_nx_off(machine):
    vmm = machine.records("VMM")[0]
    assert (vmm["requested"], vmm["pae"], vmm["nx"]) == ("legacy", "off", "off")
    assert "kernel_pdpt" not in vmm.fields
    assert mode_of(machine) == ("legacy", 0, 0, 0, 0)
    assert vmm.int("kernel_pd") == machine.reg("cr3")


@pytest.mark.machine(cmdline="paging=pae", cpu="max")
def test_paging_pae_on_cpu_max(machine):
    assert machine.records("VMM")[0]["requested"] == "pae"
    assert mode_of(machine) == ("pae", 1, 1, CR4_PAE, EFER_NXE)


@pytest.mark.machine(cmdline="paging=pae", cpu="486")
def test_a_486_has_no_pae_and_paging_pae_falls_back_to_legacy_saying_so(machine):
    vmm = machine.records("VMM")[0]
    assert (vmm["mode"], vmm["requested"], vmm["pae"], vmm["nx"]) == (
        "legacy", "pae", "unavailable", "unavailable")
    assert machine.read_u32(machine.symbol("vmm_mode")) == 0
    assert machine.reg("cr4") & CR4_PAE == 0
    # Nor PGE: kernel pages are not global, CR4.PGE stays clear, the record says 0.
    assert machine.records("CPU")[0]["pge"] == "0"
    assert (vmm["global"], machine.reg("cr4") & CR4_PGE) == ("0", 0)


@pytest.mark.machine(cmdline="paging=auto", cpu="qemu32")
def test_qemu32_has_pae_without_nx(machine):
    """QEMU's qemu32 model reports PAE in CPUID.1:EDX and no NX in
    CPUID.80000001h:EDX: PAE paging, every page executable."""
    vmm = machine.records("VMM")[0]
    assert (vmm["mode"], vmm["pae"], vmm["nx"]) == ("pae", "on", "unavailable")
    assert mode_of(machine) == ("pae", 1, 0, CR4_PAE, 0)
    kmain = machine.translate(machine.symbol("kmain"))
    heap = machine.translate(machine.symbol("pmm_stats"))
    assert kmain.execute and heap.execute, "without NX everything executes"
    assert not heap.pte.raw & NX, "NX would be a reserved bit here"


# -- the kernel's W^X ------------------------------------------------------------------


def test_only_kernel_text_is_executable_and_nothing_is_writable_and_executable(machine):
    requires_nx(machine)
    text = range(machine.symbol("__text_start"), machine.symbol("__text_end"))
    regions = machine.address_space().regions()
    assert regions
    for r in regions:
        assert not (r.write and r.execute), f"{r.start:#x}-{r.end:#x} is writable and executable"
        in_text = r.start in text and r.end - 1 in text
        assert r.execute == in_text, f"{r.start:#x}-{r.end:#x} execute={r.execute}"
        if in_text:
            assert not r.write and not r.user


@pytest.mark.machine(modules=["user/hello"])
def test_heap_kernel_stacks_and_kmap_windows_are_not_executable(machine, kernel, userland):
    requires_nx(machine)
    heap = machine.call("kmalloc", 64)
    pid = userland.spawn("hello")
    kstack = userland.process(pid).kstack_top - PAGE
    for va in (heap, kstack, machine.symbol("agent_scratch"), machine.symbol("__rodata_start")):
        t = machine.translate(va)
        assert t.pa is not None and not t.execute, f"{va:#x}"
        assert t.pte.raw & NX
    # A kmap window onto a frame above the direct map (768 MiB) is made NX too;
    # this machine has no RAM there, and the window works on any frame number.
    window = machine.call("kmap", 0x30000000) & 0xFFFFFFFF
    try:
        t = machine.translate(window)
        assert t.pa == 0x30000000 and not t.execute and t.write
    finally:
        machine.call("kunmap", window)
    userland.run()


# -- PAGE_EXEC through the API, and W^X refusals ---------------------------------------


def test_page_exec_round_trip(machine, kernel):
    requires_nx(machine)
    d = machine.call("create_page_directory")
    frame = machine.call("allocate_page")
    space = lambda: machine.address_space(d - KERNEL_BASE)  # noqa: E731
    assert machine.call("vmm_map", d, USER_VA, frame, PRESENT | USER | PAGE_EXEC) == 0
    t = space().translate(USER_VA)
    assert t.pa == frame and t.execute and not t.write and not t.pte.raw & NX
    assert kernel.lookup(d, USER_VA) == (frame, PRESENT | USER | PAGE_EXEC)
    assert machine.call("vmm_protect", d, USER_VA, PRESENT | USER | WRITE) == 0
    t = space().translate(USER_VA)
    assert t.pa == frame and t.write and not t.execute
    assert t.pte.raw == NX | frame | PRESENT | USER | WRITE, "NX set, PAGE_EXEC never stored"
    assert kernel.lookup(d, USER_VA) == (frame, PRESENT | USER | WRITE)
    assert machine.call("vmm_protect", d, USER_VA, PRESENT | USER | PAGE_EXEC) == 0
    assert space().translate(USER_VA).pte.raw == frame | PRESENT | USER
    machine.call("destroy_page_directory", d)


def test_an_unmap_clears_the_whole_entry_nx_included(machine):
    """An NX mapping's entry has bit 63 set, in its upper half: unmapping it
    leaves the whole entry 0, not a not-present entry with NX still set."""
    requires_nx(machine)
    d = machine.call("create_page_directory")
    frame = machine.call("allocate_page")
    assert machine.call("vmm_map", d, USER_VA, frame, PRESENT | USER | WRITE) == 0
    cr3 = d - KERNEL_BASE
    entry = machine.pte_address(USER_VA, cr3)
    mapped = NX | frame | PRESENT | USER | WRITE
    assert machine.read_phys(entry, 8) == mapped.to_bytes(8, "little")
    assert machine.call("vmm_unmap", d, USER_VA, 0) == 0
    assert machine.read_phys(entry, 8) == bytes(8), "both halves cleared"
    machine.call("free_page", frame)
    machine.call("destroy_page_directory", d)


@pytest.mark.parametrize("paging", ["pae", "legacy"])
def test_a_writable_and_executable_user_mapping_is_refused_in_both_modes(boot_mode, paging):
    machine, kernel = boot_mode(paging)
    d = machine.call("create_page_directory")
    frame = machine.call("allocate_page")
    flags = PRESENT | USER | WRITE | PAGE_EXEC
    stats = kernel.read_struct("vmm_stats", "vmm_stats")
    mark = machine.mark()
    assert machine.call("vmm_map", d, USER_VA, frame, flags) == EINVAL
    [rec] = machine.records("VMM", since=mark)
    assert (rec["error"], rec["op"], rec.int("va"), rec.int("pa"), rec.int("flags")) == (
        "write-and-exec", "map", USER_VA, frame, flags)
    assert kernel.lookup(d, USER_VA) is None
    after = kernel.read_struct("vmm_stats", "vmm_stats")
    assert (after["maps"], after["errors"]) == (stats["maps"], stats["errors"] + 1)
    # protect may not make one either: the entry stays as it was.
    assert machine.call("vmm_map", d, USER_VA, frame, PRESENT | USER | WRITE) == 0
    before = machine.address_space(d - KERNEL_BASE).translate(USER_VA).pte.raw
    mark = machine.mark()
    assert machine.call("vmm_protect", d, USER_VA, flags) == EINVAL
    [rec] = machine.records("VMM", since=mark)
    assert (rec["error"], rec["op"], rec.int("flags")) == ("write-and-exec", "protect", flags)
    assert machine.address_space(d - KERNEL_BASE).translate(USER_VA).pte.raw == before
    machine.call("destroy_page_directory", d)


@pytest.fixture
def boot_mode(request, firmware, machine_pool):
    """boot_mode(paging, modules=()) -> (machine, kernel) at kernel_ready."""
    from harness.pytest_plugin import machine_config

    made = []

    def boot(paging: str, modules: tuple[str, ...] = ()):
        cfg = machine_config(request, firmware, modules=modules, cmdline=f"paging={paging}")
        m = machine_pool.boot_to_ready(cfg)
        made.append(m)
        return m, Kernel(m)
    yield boot
    for m in made:
        machine_pool.close_machine(m)


# -- exec-nx faults ----------------------------------------------------------------------


@pytest.mark.machine(modules=["user/hello"])
def test_a_user_fetch_from_its_stack_is_killed_with_exec_nx(machine, kernel, userland):
    """hello's first instruction is made its stack page (through the trap
    frame its first iret uses): with NX the fetch faults (P|U|I/D) and the
    process is killed, reason exec-nx, the kernel running on."""
    requires_nx(machine)
    pid = userland.spawn("hello")
    p = userland.process(pid)
    target = p.stack_top - PAGE  # mapped at spawn (argv), not executable
    tf = p.kstack_top - kernel.layout("trapframe").size
    eip_at = tf + kernel.layout("trapframe").fields["eip"].offset
    machine.write_u32(eip_at, target)
    mark = machine.mark()
    result = userland.run()[pid]
    assert (result.killed, result.reason, result.addr, result.eip, result.err) == (
        True, "exec-nx", target, target, 0x15)
    [pf] = machine.records("PF", since=mark)
    assert (pf["kind"], pf["access"], pf["mode"], pf["action"], pf["reason"]) == (
        "protection", "fetch", "user", "kill", "exec-nx")
    assert machine.call("agent_nop", 7) == 7, "the kernel runs on"


@pytest.mark.parametrize("where", ["heap", "bss"])
def test_the_kernel_executing_its_own_data_panics_with_exec_nx(machine, where):
    requires_nx(machine)
    target = machine.call("kmalloc", 64) if where == "heap" else machine.symbol("agent_scratch")
    target &= 0xFFFFFFFF
    machine.write(target, b"\xc3")  # ret: would return at once if it ran
    with pytest.raises(GuestPanic), expect_fault(machine, addr=target, fetch=True,
                                                 present=True, user=False):
        machine.call(target)  # the handler panics as the call goes on
    pf = machine.records("PF")[-1]
    assert (pf.int("addr"), pf.int("err"), pf["access"], pf["mode"], pf["action"],
            pf["reason"]) == (target, 0x11, "fetch", "kernel", "panic", "exec-nx")
    assert "exec-nx" in machine.records("PANIC")[-1]["msg"]


# -- ELF segments -----------------------------------------------------------------------


def with_segment_flags(source, dest, flags: int) -> str:
    """A copy of an ELF program whose first program header (its PT_LOAD text)
    gets p_flags = flags."""
    data = bytearray(source.read_bytes())
    phoff = int.from_bytes(data[28:32], "little")
    assert int.from_bytes(data[phoff:phoff + 4], "little") == 1, "PT_LOAD first"
    data[phoff + 24:phoff + 28] = flags.to_bytes(4, "little")
    dest.write_bytes(bytes(data))
    return str(dest)


@pytest.mark.parametrize("paging", ["pae", "legacy"])
def test_an_elf_segment_both_writable_and_executable_is_refused(boot_mode, firmware, tmp_path,
                                                                paging, request):
    if request.config.getoption("--boot") == "iso":
        pytest.skip("the module is built at test time; GRUB images are built per config")
    hello = firmware.user_program("hello")
    rwx = with_segment_flags(hello, tmp_path / "rwx.elf", 7)  # PF_R | PF_W | PF_X
    machine, kernel = boot_mode(paging, (rwx, str(hello)))
    userland = Userland(machine, firmware.user_dir)
    machine.call("heap_trim")
    free = kernel.pmm_stats()["free_frames"]
    mark = machine.mark()
    with pytest.raises(RuntimeError, match=r"spawn 'rwx' failed: -22"):
        userland.spawn("rwx")
    [rec] = machine.records("ELF", since=mark)
    assert (rec["error"], rec.int("segment"), rec.int("va"), rec.int("flags")) == (
        "write-and-exec", 0, 0x1000, 7)
    machine.call("heap_trim")
    assert kernel.pmm_stats()["free_frames"] == free, "nothing kept"
    pid = userland.spawn("hello")  # the same program with R|X text runs
    [text] = [r for r in userland.address_space(pid).regions() if r.start <= 0x1000 < r.end]
    assert text.execute and not text.write
    assert userland.run()[pid].status == 0


# -- PAE address spaces ------------------------------------------------------------------


def requires_pae(machine) -> None:
    if not machine.read_u32(machine.symbol("vmm_mode")):
        pytest.skip("legacy paging: this CPU model has no PAE, or paging=legacy")


def pdpt(machine, directory: int) -> list[int]:
    data = machine.read(directory, 32)
    return [int.from_bytes(data[i:i + 8], "little") for i in range(0, 32, 8)]


def test_every_space_shares_the_kernel_directory_and_owns_three_user_ones(machine, kernel):
    """PDPT entry 3 of every address space is the kernel's page directory;
    entries 0-2 are the space's own, present from creation (PDPTEs are read
    at CR3 loads only), empty, with no bits a PDPTE may not have."""
    requires_pae(machine)
    before = kernel.pmm_stats()["free_frames"]
    dirs = [machine.call("create_page_directory") for _ in range(3)]
    assert kernel.pmm_stats()["free_frames"] == before - 3 * 4, "a PDPT page and 3 directories"
    kernel_pdpt = pdpt(machine, kernel.kernel_directory())
    user_dirs = set()
    for d in dirs:
        entries = pdpt(machine, d)
        assert entries[3] & ~0x20 == kernel_pdpt[3] & ~0x20  # QEMU sets bit 5 on a walk
        for e in entries[:3]:
            assert e & 0xFFF == 0x1, f"{e:#x}: present, nothing else"
            assert machine.read_phys(e & 0xFFFFF000, 4096) == bytes(4096)
            user_dirs.add(e & 0xFFFFF000)
        assert machine.read(d + 32, 4096 - 32) == bytes(4096 - 32)
    assert len(user_dirs) == 9, "no directory shared between spaces"
    kernel_mapping_reaches_every(machine, dirs)
    for d in dirs:
        machine.call("destroy_page_directory", d)
    assert kernel.pmm_stats()["free_frames"] == before, "destroy gives all four back"


def test_get_page_table_counts_2mib_slots_in_pae(machine, kernel):
    requires_pae(machine)
    index = USER_VA >> 21  # 512: PDPT entry 1, PDE 0
    stats = kernel.read_struct("vmm_stats", "vmm_stats")["user_page_tables"]
    assert machine.call("get_page_table", index, 0) == 0, "absent, not made"
    table = machine.call("get_page_table", index, 1) & 0xFFFFFFFF
    pde = machine.translate(USER_VA).pde
    assert (pde.frame, pde.raw & 0xFFF & ~0x20) == (table - KERNEL_BASE, PRESENT | WRITE | USER)
    assert not pde.raw & NX, "user rights live in the PTEs"
    assert machine.read(table, 4096) == bytes(4096), "zeroed"
    assert machine.call("get_page_table", index, 1) & 0xFFFFFFFF == table, "the same one"
    assert kernel.read_struct("vmm_stats", "vmm_stats")["user_page_tables"] == stats + 1
    assert machine.call("get_page_table", 2047, 0) != 0, "the kernel's last table"
    assert machine.call("get_page_table", 2048, 1) == 0, "no PDE 2048"


def test_a_pde_without_its_present_bit_maps_nothing(machine, kernel):
    """The kernel's walk follows a PAE PDE only when it is present.  A PDE
    whose P bit is cleared behind the kernel's back (a debugger's poke)
    still names its page table, and that table's PTE still maps the page:
    the lookup must find nothing there all the same, and again once the
    bit is back."""
    requires_pae(machine)
    frame = machine.call("allocate_page")
    assert machine.call("map_page", USER_VA, frame, PRESENT | WRITE) == 0
    kd = kernel.kernel_directory()
    pde_at = (pdpt(machine, kd)[USER_VA >> 30] & 0xFFFFF000) + ((USER_VA >> 21) & 511) * 8
    raw = int.from_bytes(machine.read_phys(pde_at, 8), "little")
    assert raw & PRESENT and kernel.lookup(kd, USER_VA)[0] == frame
    machine.write_phys(pde_at, (raw & ~PRESENT).to_bytes(8, "little"))
    try:
        assert kernel.lookup(kd, USER_VA) is None, "an absent page table maps nothing"
    finally:
        machine.write_phys(pde_at, raw.to_bytes(8, "little"))
    assert kernel.lookup(kd, USER_VA)[0] == frame
    assert machine.call("unmap_page", USER_VA) == 0
    machine.call("free_page", frame)
