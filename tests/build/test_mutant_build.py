"""A mutant is built in a copy of the firmware tree with the project's CMake
flow, and one that does not compile is stillborn with the compiler's words
(no QEMU; the real tree is never written)."""

from harness.mutate.generate import mutants
from harness.mutate.sandbox import REPO, build_mutant


def by_description(path, function, description):
    (m,) = [m for m in mutants([REPO / path], REPO)
            if m.function == function and m.description == description]
    return m


def test_a_mutant_builds_and_one_that_does_not_compile_is_stillborn(tmp_path):
    no_invlpg = by_description("firmware/mm/vmm.c", "flush", "delete call `invlpg(va);`")
    # strlcpy(name, p->name, ...): a const char * as the destination
    swapped = by_description("firmware/kernel/proc.c", "proc_spawn",
                             "swap arguments `p->name` and `name` of strlcpy()")
    before = {p: p.read_bytes() for p in (REPO / no_invlpg.file, REPO / swapped.file)}

    built = build_mutant(no_invlpg, tmp_path)
    assert (built.status, built.message) == ("built", "")
    assert built.artifacts.kernel.read_bytes()[:4] == b"\x7fELF"

    dead = build_mutant(swapped, tmp_path)  # the same copy: vmm.c is put back first
    assert dead.status == "stillborn"
    assert "proc.c:" in dead.error and "strlcpy" in dead.error, dead.message
    assert dead.error in dead.message
    assert (tmp_path / no_invlpg.file).read_bytes() == before[REPO / no_invlpg.file]

    assert build_mutant(no_invlpg, tmp_path).status == "built"  # proc.c put back
    assert {p: p.read_bytes() for p in before} == before  # the real tree untouched
