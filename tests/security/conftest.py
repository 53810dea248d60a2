"""Every test here ends with every address space's entries obeying the
kernel's invariants (no U in the kernel half, no writable text, user frames
used in the PMM and owned or shared as they should be, shared-memory
reference counts: harness/targets/mmverify/invariants.py)."""

from tests.final_state import after_each_test, invariants

pytest_runtest_call = after_each_test(invariants)
