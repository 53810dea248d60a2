/* fsbench PATH [N]: instructions of a 4 KiB read() served from the page
 * cache, the whole system call (rdtsc under -icount counts instructions).
 * The first read brings the page into the cache; then N (default 64) reads
 * of the same page, each after an lseek back (not counted): the mean and the
 * cheapest. */
#include "kernel/fcntl.h"
#include "ulib.h"

static uint8_t buf[4096] __attribute__((aligned(4096)));

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int rounds = argc > 2 ? atoi(argv[2]) : 64;
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0 || read(fd, buf, sizeof(buf)) != (int)sizeof(buf)) return 3;
  uint32_t best = 0xFFFFFFFFu, total = 0;
  for (int i = 0; i < rounds; i++) {
    lseek(fd, 0, SEEK_SET);
    uint32_t start = rdtsc32();
    int n = read(fd, buf, sizeof(buf));
    uint32_t spent = rdtsc32() - start;
    if (n != (int)sizeof(buf)) return 4;
    if (spent < best) best = spent;
    total += spent;
  }
  printf("USER prog=fsbench pid=%d rounds=%d read_insns=%u best_insns=%u\n", getpid(), rounds,
         total / (uint32_t)rounds, best);
  return 0;
}
