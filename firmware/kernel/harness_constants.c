/* Constants the harness needs, exported from the headers that define them:
 * the harness reads these symbols from kernel.elf
 * (harness/targets/mmverify/constants.py) instead of keeping copies that
 * could drift.  A #define is not in the debug info; a variable is. */
#include "fs/bcache.h"
#include "memlayout.h"
#include "mm/uvm.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

#define EXPORT(name) __attribute__((used)) const uint32_t harness_const_##name = (name)

EXPORT(KERNEL_BASE);
EXPORT(FRAME_SIZE);
EXPORT(USER_HEAP_MAX);
EXPORT(USER_SHM_SPAN);
EXPORT(USER_STACK_MAX);
EXPORT(USER_TOP);
EXPORT(PAGE_EXEC);
EXPORT(BUF_VALID);
EXPORT(BUF_DIRTY);
EXPORT(BCACHE_BLOCK_SIZE);
