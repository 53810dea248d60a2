/* Disk benchmark: instructions the kernel spends on a 4 KiB read through the
 * driver (blk_read of 8 sectors, block layer, ATA command, interrupt), of
 * blocks never read before.  Time spent halted waiting for the device is no
 * instructions, so this is the CPU's cost of a read, not its latency. */
#include "bench/bench.h"
#include "dev/blk.h"
#include "mm/pmm.h"
#include "memlayout.h"

#define SECTORS_4K 8

/* n reads of consecutive 4 KiB blocks from lba 0: the instructions, or
 * 0xFFFFFFFF when a read failed (no such disk, or too small). */
HARNESS_VISIBLE uint32_t bench_disk_read_4k(struct blk_device *d, uint32_t n) {
  void *frame = allocate_page();
  if (!frame) return 0xFFFFFFFFu;
  uint8_t *buf = P2V((paddr_t)frame);
  uint32_t start = bench_clock(), cost = 0xFFFFFFFFu;
  uint32_t i = 0;
  while (i < n && blk_read(d, (uint64_t)i * SECTORS_4K, SECTORS_4K, buf) == 0) i++;
  if (i == n) cost = bench_clock() - start;
  free_page(frame);
  return cost;
}
