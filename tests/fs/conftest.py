"""Every test here ends with the kernel's invariants holding, the page
cache's part included (its frames are kernel references, marked
FRAME_PAGECACHE, mapped read-only: harness/targets/mmverify/invariants.py)."""

from tests.final_state import after_each_test, invariants

pytest_runtest_call = after_each_test(invariants)
