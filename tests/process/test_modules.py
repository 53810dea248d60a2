"""Multiboot modules: as many as the loader passes, named by file name however
long their path, and refused by the harness when the kernel could not take them."""

import os
import shutil

import pytest

from harness.errors import ConfigError
from harness.pytest_plugin import machine_config
from harness.targets.mmverify.invariants import violations
from harness.targets.mmverify.kernel import Kernel
from harness.targets.mmverify.processes import Userland


@pytest.fixture(autouse=True)
def multiboot_paths_only(request):
    if request.config.getoption("--boot") == "iso":
        # A GRUB image holds every module as /boot/user/NAME.elf and its
        # command line has no kernel path in front: the paths and lengths
        # these tests build exist only with QEMU's -kernel.
        pytest.skip("module paths and command-line room are -kernel's; GRUB images rename them")


@pytest.fixture
def modules_dir(tmp_path, firmware):
    """place(program, as_path) copies a built user program to tmp/as_path."""
    def place(program: str, as_path: str) -> str:
        dest = tmp_path / as_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(firmware.user_program(program), dest)
        return str(dest)
    return place


@pytest.fixture
def booted(request, firmware, machine_pool):
    """boot(modules, cmdline) -> a machine at kernel_ready, through the pool's checks."""
    made = []

    def boot(modules, cmdline=""):
        cfg = machine_config(request, firmware, modules=modules, cmdline=cmdline)
        m = machine_pool.boot_to_ready(cfg)
        made.append(m)
        return m
    yield boot
    for m in made:
        machine_pool.close_machine(m)


def test_a_module_behind_a_long_path_keeps_its_name(booted, modules_dir, firmware):
    path = modules_dir("hello", os.path.join(*["a-rather-long-directory-name"] * 8, "hello.elf"))
    assert len(path) > 240
    machine = booted([f"{path} 7"])
    kernel = Kernel(machine)
    assert [m["cmdline"] for m in kernel.modules()] == [f"{path} 7"]
    userland = Userland(machine, firmware.user_dir)
    pid = userland.spawn("hello")
    result = userland.run()[pid]
    assert (result.name, result.status, result.killed) == ("hello", 7, False)


def test_more_than_32_modules_are_all_kept_and_runnable(booted, modules_dir, firmware):
    paths = [modules_dir("hello", f"many/prog{i:02d}.elf") for i in range(40)]
    machine = booted([f"{p} {i}" for i, p in enumerate(paths)])
    kernel = Kernel(machine)
    assert [m["cmdline"] for m in kernel.modules()] == [f"{p} {i}" for i, p in enumerate(paths)]
    assert [r["name"] for r in machine.records("MODULE")] == [f"prog{i:02d}" for i in range(40)]
    userland = Userland(machine, firmware.user_dir)
    first, last = userland.spawn("prog00"), userland.spawn("prog39")
    results = userland.run()
    assert (results[first].status, results[last].status) == (0, 39)
    table = kernel.read_struct("boot_info", "boot_info")
    used, reserved = kernel.pmm_bitmaps()
    for frame in range(table["arena_start"] // 4096, table["arena_end"] // 4096):
        assert used[frame] and reserved[frame], f"module table frame {frame} not reserved"


def test_the_kernel_skips_what_it_cannot_run_and_says_why(boot, modules_dir, firmware):
    # The boot fixture does not check the configuration: the kernel's own
    # defence is what is tested here.
    first = modules_dir("hello", "a/hello.elf")
    second = modules_dir("nullwrite", "b/hello.elf")
    long_name = modules_dir("hello", "n/" + "x" * 32 + ".elf")
    machine = boot(modules=[first, second, long_name])
    machine.run_to("kernel_ready")
    records = [r.fields for r in machine.records("MODULE")]
    assert records[1:] == [{"skipped": second, "reason": "duplicate-name"},
                           {"skipped": long_name, "reason": "name-too-long"}]
    assert records[0]["name"] == "hello"
    userland = Userland(machine, firmware.user_dir)
    pid = userland.spawn("hello")  # the first of the name, not nullwrite
    assert userland.run()[pid].killed is False
    with pytest.raises(RuntimeError, match="-2"):  # -ENOENT: never found under a cut name
        userland.spawn("x" * 31)


def test_the_pool_refuses_a_duplicate_module_name(booted, modules_dir):
    a, b = modules_dir("hello", "a/hello.elf"), modules_dir("hello", "b/hello.elf")
    with pytest.raises(ConfigError, match=r"share the name\(s\) \['hello'\]"):
        booted([a, b])


def test_the_pool_refuses_a_module_name_the_kernel_cannot_hold(booted, modules_dir):
    ok = modules_dir("hello", "n/" + "x" * 31 + ".elf")
    too_long = modules_dir("hello", "n/" + "y" * 32 + ".elf")
    booted([ok])
    with pytest.raises(ConfigError, match="is 32 bytes, the kernel's limit is 31"):
        booted([too_long])


def test_the_pool_refuses_a_command_line_the_kernel_would_cut(booted, firmware):
    room = 511 - len(str(firmware.kernel)) - 1  # QEMU puts the kernel's path first
    machine = booted([], cmdline="x" * (room - 9) + " aslr=off")
    assert machine.evaluate("'aslr.c'::source") == "FIXED", "the last option arrived"
    with pytest.raises(ConfigError, match="the kernel keeps 511"):
        booted([], cmdline="x" * (room + 1))


def with_memsz(source, dest, memsz):
    """A copy of the ELF ``source`` whose first program header (hello's one
    PT_LOAD, its text at 0x1000) claims ``memsz`` bytes in memory."""
    data = bytearray(source.read_bytes())
    phoff = int.from_bytes(data[28:32], "little")
    assert int.from_bytes(data[phoff:phoff + 4], "little") == 1, "PT_LOAD first"
    assert int.from_bytes(data[phoff + 8:phoff + 12], "little") == 0x1000
    data[phoff + 20:phoff + 24] = memsz.to_bytes(4, "little")
    dest.write_bytes(bytes(data))
    return str(dest)


def test_an_image_up_to_the_page_limit_and_one_page_over(booted, tmp_path, firmware):
    """PROC_MAX_PAGES (4096) counts the image from address 0 and the stack's
    1 MiB (256 pages): an image ending at 0xF00000 fits exactly, one page more
    is refused with -ENOMEM, and takes nothing with it."""
    hello = firmware.user_program("hello")
    fits = with_memsz(hello, tmp_path / "fits.elf", 0xF00000 - 0x1000)
    over = with_memsz(hello, tmp_path / "over.elf", 0xF01000 - 0x1000)
    machine = booted([fits, over])
    kernel, userland = Kernel(machine), Userland(machine, firmware.user_dir)
    machine.call("heap_trim")
    free = kernel.pmm_stats()["free_frames"]
    with pytest.raises(RuntimeError, match=r"spawn 'over' failed: -12"):
        userland.spawn("over")
    machine.call("heap_trim")
    assert kernel.pmm_stats()["free_frames"] == free, "every frame of the image came back"
    pid = userland.spawn("fits")
    assert kernel.process_table()[0]["reserved_pages"] == 4096
    assert violations(kernel) == []
    assert userland.run()[pid].status == 0
