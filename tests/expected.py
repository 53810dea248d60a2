"""Values the tests expect of the firmware, written down here on purpose and
not read from it: an expectation taken from the code under test could not
catch that code changing.  (The harness itself reads the firmware's constants
from kernel.elf: harness.targets.mmverify.constants.)"""

KERNEL_BASE = 0xC0000000  # the start of the kernel half and of the direct map
