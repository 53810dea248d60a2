"""The mm commands share no constant with the firmware by copy: what the C
code defines they read from the kernel being debugged (its harness_const_*
exports, sizeof, enums, symbols), so a changed #define cannot leave them
silently wrong."""

import ast
import re

import pytest

from harness.targets.mmverify.build import REPO

# "#define NAME 0x1000u", "#define NAME (64u)", "#define NAME OTHER_NAME"
DEFINE = re.compile(r"^\s*#define\s+(\w+)\s+\(?(0x[0-9A-Fa-f]+u?|\d+u?|[A-Z_][A-Z0-9_]*)\)?"
                    r"\s*(?:/\*.*)?$", re.MULTILINE)


def firmware_defines() -> dict[str, int]:
    """The firmware's own choices: not firmware/arch/, whose headers name what
    the CPU defines (the page size, CR0.PG, CR4.PSE: facts of the SDM that the
    harness's decode layer knows too)."""
    raw = {}
    for path in (REPO / "firmware").rglob("*.[ch]"):
        if "arch" not in path.relative_to(REPO / "firmware").parts:
            raw.update(DEFINE.findall(path.read_text(errors="replace")))
    out = {n: int(v.rstrip("u"), 0) for n, v in raw.items() if v[0].isdigit()}
    for _ in range(3):  # names defined as other names (SLAB_BASE KHEAP_BASE)
        out.update({n: out[v] for n, v in raw.items() if v in out})
    text = (REPO / "firmware" / "linker.ld").read_text()
    out.update({n: int(v, 0) for n, v in re.findall(r"^(\w+) = (0x[0-9A-Fa-f]+);", text, re.M)})
    return out


def module_constants(path) -> dict[str, int]:
    out = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, int):
                out.update({t.id: node.value.value for t in targets if isinstance(t, ast.Name)})
    return out


def test_no_gdbcmds_module_copies_a_firmware_define():
    defines = firmware_defines()
    assert {"SLAB_BASE", "CANARY_LIVE", "KERNEL_BASE", "MIN_BLOCK"} <= set(defines)
    copies = [f"{path.name}: {name} = {number:#x}"
              for path in sorted((REPO / "harness" / "gdbcmds").glob("*.py"))
              for name, number in module_constants(path).items()
              if defines.get(name) == number]
    assert copies == [], "read these from the kernel's debug info instead"


@pytest.mark.qemu
def test_mm_heap_reads_the_kernels_own_canary(run_gdb):
    """harness_const_CANARY_LIVE changed in the running kernel (as a rebuilt
    kernel with another CANARY_LIVE would have it): mm heap follows, so no
    live block matches any more, while the kernel's own check still passes."""
    t = run_gdb(["call kmalloc(100)", "mm heap",
                 "set var harness_const_CANARY_LIVE = 0x12345678", "mm heap"])
    before, after = t.after("mm heap")
    assert "live blocks: 1, 100 bytes requested" in before, before
    assert "live blocks: 0, 0 bytes requested" in after, after
    assert "heap_check(): OK (0)" in after
