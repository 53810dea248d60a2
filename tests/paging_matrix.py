"""The paging matrix: a directory whose conftest.py calls :func:`parametrize`
from its ``pytest_generate_tests`` runs each machine test twice, booted with
``paging=legacy`` (two-level tables, no NX) and ``paging=pae`` (PAE tables,
NX when the CPU has it).  Test ids end in ``[legacy]`` or ``[pae]``.

A test whose machine marker already names a paging mode is about that mode
and runs once, as written.  Tests learn their mode from the ``paging``
fixture."""

import pytest

MODES = ("legacy", "pae")


def pinned(metafunc: pytest.Metafunc) -> bool:
    marker = metafunc.definition.get_closest_marker("machine")
    return marker is not None and "paging=" in marker.kwargs.get("cmdline", "")


def parametrize(metafunc: pytest.Metafunc) -> None:
    if "extra_cmdline" in metafunc.fixturenames and not pinned(metafunc):
        metafunc.parametrize("extra_cmdline", [f"paging={m}" for m in MODES], ids=MODES)


@pytest.fixture
def paging(extra_cmdline: str) -> str | None:
    """"legacy" or "pae" for a test of the matrix, None outside it."""
    return extra_cmdline.removeprefix("paging=") or None
