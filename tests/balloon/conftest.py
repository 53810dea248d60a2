"""Every balloon test ends with the kernel's invariants holding, the frame
table's audit included: each FRAME_BALLOON frame has exactly the balloon's
one reference and no mapping (harness/targets/mmverify/invariants.py)."""

from tests.final_state import after_each_test, invariants

pytest_runtest_call = after_each_test(invariants)
