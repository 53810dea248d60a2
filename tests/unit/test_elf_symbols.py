"""harness.machine.elf_symbols on a small i386 ELF built here (gcc -m32, as
the firmware is): globals and unique locals by their exact names, a static
name two files share left out, addresses as nm would print them."""

import shutil
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from harness.machine.elf_symbols import exact_symbols

A = """static int g(void) { return 1; }
int f(void) { return g(); }
static int h(void) { return 2; }
int use_h(void) { return h(); }
int object = 5;
static int counter;
int bump(void) { return ++counter; }
"""
B = """static int g(void) { return 3; }
int f2(void) { return g(); }
void _start(void) {}
"""


@pytest.fixture
def program(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc builds the firmware; without it nothing here can run")
    (tmp_path / "a.c").write_text(A)
    (tmp_path / "b.c").write_text(B)
    out = tmp_path / "ab.elf"
    subprocess.run(["gcc", "-m32", "-O0", "-nostdlib", "-static", "-fno-pie", "-no-pie",
                    "-o", str(out), "a.c", "b.c"], cwd=tmp_path, check=True)
    return out


def symbol_table(path):
    """Every named symbol as (name, bind, address), straight from pyelftools."""
    with open(path, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return [(s.name, s["st_info"]["bind"], s["st_value"]) for s in symtab.iter_symbols()
                if s.name]


def test_globals_and_unique_locals_by_exact_name(program):
    table = symbol_table(program)
    address = {name: value for name, _, value in table if name != "g"}
    found = exact_symbols(program)
    assert found == {name: address[name] for name in
                     ("f", "f2", "_start", "h", "use_h", "object", "counter", "bump")}
    assert len({value for name, _, value in table if name == "g"}) == 2, "two static g's"
    assert "g" not in found


def test_the_table_is_read_again_when_the_file_changes(program, tmp_path):
    before = exact_symbols(program)
    (tmp_path / "a.c").write_text(A.replace("int object = 5;", "int object = 5;\nint late = 1;"))
    subprocess.run(["gcc", "-m32", "-O0", "-nostdlib", "-static", "-fno-pie", "-no-pie",
                    "-o", str(program), "a.c", "b.c"], cwd=tmp_path, check=True)
    after = exact_symbols(program)
    assert "late" in after and "late" not in before
