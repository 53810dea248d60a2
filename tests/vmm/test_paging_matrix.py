"""The matrix (tests/paging_matrix.py) boots what its test ids say: the CPU's
own CR4.PAE, read through GDB, matches the mode."""

import pytest


def test_the_machine_runs_the_mode_of_the_test_id(machine, paging):
    mode = machine.paging_mode()
    assert mode is not None and mode.pae == (paging == "pae")


@pytest.mark.machine(cmdline="paging=legacy")
def test_a_test_pinned_to_a_mode_runs_once_in_it(machine, paging):
    assert paging is None, "not parametrized"
    assert not machine.paging_mode().pae
