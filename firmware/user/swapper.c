/* `swapper PAGES PATTERN SEED [OPTIONS]`: grows the heap by PAGES pages,
 * fills every byte of them with PATTERN, with option `p` swaps them all out
 * (pageout), stops at checkpoint(1) (with option `x` it exits 0 there,
 * leaving its pages in swap; with option `b` its check measures each
 * page's first touch, the swap-in, and prints the mean as swapin_insns;
 * with option `P` it pages them out again after its check, before
 * checkpoint(2); with option `e` it execs `swapper 2 z 0` right after
 * checkpoint(1), pages still in swap; with option `d` it preads the first
 * 4 KiB of /dev/hdb into its first page right after checkpoint(1), so the
 * kernel's copy meets that page in swap, and exits 3 if the read returns), yields (so that several swappers all
 * hold their pages at once), with option `f` forks (parent and child both
 * go on),
 * then reads every page back and checks each byte against the pattern.
 * Prints "USER prog=swapper pid=<n> pages=<n> bad=<pages that differ>" and exits
 * 0 when every page came back whole, 2 when one did not (1: no memory).
 *
 * Patterns, each a pure function of (seed, page, word) so the check needs
 * no copy:
 *   r  random: xorshift32 words (incompressible: swap sends them to disk)
 *   z  zero: every word 0 (the pool keeps such a page as one value)
 *   t  text: words of a small vocabulary picked by the generator
 *      (compressible: the pool keeps it, a few times smaller) */
#include "ulib.h"

static uint32_t next(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

/* The generator's start for one page: never 0 (xorshift would stay 0). */
static uint32_t page_seed(uint32_t seed, uint32_t page) {
  uint32_t x = seed * 2654435761u ^ (page + 1) * 40503u;
  return x ? x : 1;
}

static const char *const words[16] = {
    "memory ", "page ", "frame ", "swap ", "the ", "kernel ", "of ", "a ",
    "clock ", "slot ", "and ", "disk ", "pool ", "cache ", "to ", "fault "};

/* Page `page` of the pattern into buf (4096 bytes). */
static void fill(uint8_t *buf, char pattern, uint32_t seed, uint32_t page) {
  uint32_t x = page_seed(seed, page);
  if (pattern == 'z') {
    memset(buf, 0, 4096);
  } else if (pattern == 'r') {
    uint32_t *w = (uint32_t *)buf;
    for (int i = 0; i < 1024; i++) w[i] = next(&x);
  } else {
    for (int at = 0; at < 4096;) {
      const char *word = words[next(&x) & 15];
      while (*word && at < 4096) buf[at++] = (uint8_t)*word++;
    }
  }
}

static int same(const uint8_t *a, const uint8_t *b) {
  const uint32_t *x = (const uint32_t *)a, *y = (const uint32_t *)b;
  for (int i = 0; i < 1024; i++)
    if (x[i] != y[i]) return 0;
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 4) return 1;
  int pages = atoi(argv[1]);
  char pattern = argv[2][0];
  uint32_t seed = (uint32_t)atoi(argv[3]);
  const char *options = argc > 4 ? argv[4] : "";
  int forks = 0, pages_out = 0, quit = 0, bench = 0, again = 0, execs = 0, disk_read = 0;
  for (const char *o = options; *o; o++) {
    forks |= *o == 'f';
    pages_out |= *o == 'p';
    quit |= *o == 'x';
    bench |= *o == 'b';
    again |= *o == 'P';
    execs |= *o == 'e';
    disk_read |= *o == 'd';
  }
  uint8_t *heap = sbrk(pages * 4096);
  if (IS_ERR(heap)) return 1;
  for (int i = 0; i < pages; i++) fill(heap + i * 4096, pattern, seed, (uint32_t)i);
  if (pages_out) pageout(heap, pages * 4096);
  checkpoint(1);
  if (quit) return 0;
  if (execs) return exec("swapper", "2 z 0") == 0 ? 0 : 1;
  if (disk_read) {
    int fd = open("/dev/hdb", O_RDONLY);
    int got = pread(fd, heap, 4096, 0);
    printf("USER prog=swapper pid=%d fd=%d pread=%d\n", getpid(), fd, got);
    return 3;
  }
  yield(); /* the others fill theirs too: together they outgrow RAM */
  if (forks && fork() < 0) return 1;
  static uint8_t expect[4096];
  int bad = 0;
  uint32_t touch_insns = 0;
  for (int i = 0; i < pages; i++) {
    if (bench) { /* under -icount the TSC counts instructions */
      uint32_t start = rdtsc32();
      (void)*(volatile uint8_t *)(heap + i * 4096);
      touch_insns += rdtsc32() - start;
    }
    fill(expect, pattern, seed, (uint32_t)i);
    bad += !same(heap + i * 4096, expect);
  }
  printf("USER prog=swapper pid=%d pages=%d bad=%d swapin_insns=%u\n", getpid(), pages, bad,
         bench ? touch_insns / (uint32_t)pages : 0);
  if (again) pageout(heap, pages * 4096);
  checkpoint(2);
  return bad ? 2 : 0;
}
