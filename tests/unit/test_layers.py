"""The harness's layers: every import points down, and nothing imports in a
circle (read from the source with ast, so lazy imports inside functions count
too)."""

import ast
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "harness"

# Lowest first: a module may import its own layer and the ones before it.
LAYERS = [
    ("base", ("harness", "harness.errors", "harness.timeouts")),
    ("decode", ("harness.decode",)),
    ("transport", ("harness.transport",)),
    ("machine", ("harness.machine",)),
    ("targets", ("harness.targets",)),
    ("tools", ("harness.cli", "harness.gdbcmds", "harness.mutate", "harness.pytest_plugin",
               "harness.__main__")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(HARNESS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    best, level = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), i
    assert level is not None, f"{module} is in no layer: add it to LAYERS"
    return level


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (harness's own resolved to module names)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)  # submodules
    return out


MODULES = {module_name(p): p for p in sorted(HARNESS.rglob("*.py"))}
GRAPH = {name: {i for i in imports(path) if i in MODULES and i != name}
         for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = layer_of(module)
    upward = sorted(i for i in GRAPH[module] if layer_of(i) > mine)
    assert not upward, (f"{module} ({LAYERS[mine][0]}) imports a higher layer: "
                        + ", ".join(f"{i} ({LAYERS[layer_of(i)][0]})" for i in upward))


def test_no_import_cycles():
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module):], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for dep in sorted(GRAPH[module]):
            if dep != module and not module.startswith(dep + "."):  # a package's own __init__
                visit(dep, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])


@pytest.mark.parametrize("module", sorted(m for m in MODULES
                                          if layer_of(m) <= 1 or m.startswith("harness.gdbcmds")))
def test_the_pure_layer_and_the_gdb_commands_need_only_the_standard_library(module):
    # GDB's own Python loads these with nothing installed (no pygdbmi, pexpect...).
    foreign = sorted(i for i in imports(MODULES[module])
                     if i.split(".")[0] not in sys.stdlib_module_names
                     and i.split(".")[0] not in ("harness", "gdb", "__future__"))
    assert not foreign, f"{module} imports {foreign}"
    if module.startswith("harness.gdbcmds"):
        heavy = sorted(i for i in GRAPH[module]
                       if layer_of(i) > 1 and not i.startswith("harness.gdbcmds"))
        assert not heavy, f"{module} imports {heavy}: GDB's Python cannot load those"
