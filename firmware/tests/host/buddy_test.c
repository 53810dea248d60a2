/* Randomized differential test of the firmware's PMM and buddy maps
 * (mm/pmm.c, mm/buddy.c, mm/frame.c, compiled for the host unchanged, with
 * the shim headers in shim/) against a model that knows only "used or not"
 * per frame.  After every operation:
 *   - the bitmap equals the model's, and so do free_frames, the hint word,
 *     every summary bit of the bitmap and each node's free count;
 *   - every bit of every map equals "a maximal free block of that order
 *     and not exempt" (mm/buddy.h), buddy_hint_order and buddy_front_mask
 *     equal what the bitmap implies, every map summary bit is exact;
 *   - every result (addresses, refusals and their counters) is the model's.
 * Each seed boots a machine of its own: RAM size, holes (reserved runs),
 * the kernel's end, and for most seeds several NUMA nodes whose boundaries
 * fall inside words, on word boundaries or on odd multiples of 512 frames;
 * some seeds cross the direct-map limit (two zones per node), some have
 * RAM above 4 GiB (PAE: bitmap-only frames).
 *
 *   make -C firmware/tests/host && firmware/tests/host/buddy_test SEEDS OPS */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/i386/multiboot.h"
#include "kernel/bootinfo.h"
#include "memlayout.h"
#include "mm/buddy.h"
#include "mm/frame.h"
#include "mm/numa.h"
#include "mm/pmm.h"

/* -- the machine the PMM runs on ------------------------------------------------ */

char *host_ram;
paddr_t host_kernel_end;
struct boot_info boot_info;
static uint64_t phys_limit;
uint64_t vmm_phys_limit(void) { return phys_limit; }
pfn_t numa_alloc_user_frame(void) { return pmm_alloc_user_frame_node(0); }

static unsigned records;
static char last_record[256];
void krecord(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_record, sizeof last_record, fmt, ap);
  va_end(ap);
  records++;
}

static unsigned seed_now, ops_done;
static const char *last_op = "boot";

__attribute__((noreturn)) void host_panic(const char *where, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "PANIC seed %u op %u (%s) in %s: ", seed_now, ops_done, last_op, where);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  exit(1);
}

#define FAIL(...)                                                                       \
  do {                                                                                  \
    fprintf(stderr, "FAIL seed %u after op %u (%s): ", seed_now, ops_done, last_op);  \
    fprintf(stderr, __VA_ARGS__);                                                       \
    fprintf(stderr, "\n");                                                              \
    exit(1);                                                                            \
  } while (0)

static unsigned long long rng_state;
static uint32_t rnd(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng_state >> 33);
}
static uint32_t rnd_below(uint32_t n) { return n ? rnd() % n : 0; }

/* -- the model ---------------------------------------------------------------------- */

#define NONE 0xFFFFFFFFu
#define DIRECT_PFN (DIRECT_MAP_LIMIT / FRAME_SIZE)
#define LOW_PFN 0x100000u
#define MAX_FRAMES (LOW_PFN + 8192)

static uint32_t N;      /* frames the bitmap covers */
static uint32_t BF, BW; /* frames and words the maps cover */
static uint8_t used[MAX_FRAMES], resv[MAX_FRAMES], node_of[MAX_FRAMES];
static uint32_t nodes = 1;
static int8_t head_order[LOW_PFN];

static uint32_t zone(uint32_t f) { return node_of[f] * 2u + (f >= DIRECT_PFN); }

/* The maximal free blocks: head_order[f] = k when one of order k starts at f. */
static void ref_blocks(void) {
  memset(head_order, -1, BF);
  uint32_t f = 0;
  while (f < BF) {
    if (used[f]) {
      f++;
      continue;
    }
    int k = 0;
    while (k < BUDDY_MAX_ORDER && !(f & (1u << k))) {
      uint32_t end = f + (2u << k), ok = end <= BF;
      for (uint32_t x = f + (1u << k); x < end && ok; x++) ok = !used[x] && zone(x) == zone(f);
      if (!ok) break;
      k++;
    }
    head_order[f] = (int8_t)k;
    f += 1u << k;
  }
}

static uint32_t lowest_free_below(uint32_t limit) {
  for (uint32_t f = 0; f < limit && f < N; f++)
    if (!used[f]) return f;
  return NONE;
}

/* allocate_block's choice: zones first, first .. by 2; the smallest order
 * >= k; the lowest block.  ref_blocks() must be current. */
static uint32_t ref_block(uint32_t k, uint32_t first) {
  for (uint32_t z = first; z < 2 * nodes; z += 2)
    for (uint32_t j = k; j <= BUDDY_MAX_ORDER; j++)
      for (uint32_t f = 0; f < BF; f += 1u << j)
        if (head_order[f] == (int)j && zone(f) == z) return f;
  return NONE;
}

static void mark(uint32_t f, uint32_t n, uint8_t v) {
  for (uint32_t i = f; i < f + n; i++) used[i] = v;
}

/* free_page's verdict: 0, or which counter it counts in. */
enum { OK, UNALIGNED, OUT_OF_RANGE, RESERVED, DOUBLE };
static int ref_free_frame(uint32_t f) {
  if (f >= N) return OUT_OF_RANGE;
  if (resv[f]) return RESERVED;
  if (!used[f]) return DOUBLE;
  used[f] = 0;
  return OK;
}

/* -- what the firmware must show ------------------------------------------------- */

static uint32_t bit(const uint32_t *map, uint32_t i) { return map[i / 32] >> (i % 32) & 1; }

/* The largest order (5..10) of an aligned block holding word w inside one
 * zone and the covered words; 4 when w itself holds a zone boundary. */
static uint32_t cap_of(uint32_t w) {
  for (uint32_t f = w * 32 + 1; f < w * 32 + 32 && f < BF; f++)
    if (zone(f) != zone(f - 1)) return 4;
  uint32_t j = 5;
  while (j < BUDDY_MAX_ORDER) {
    uint32_t base = (w * 32) & ~((2u << j) - 1), ok = base + (2u << j) <= BW * 32;
    for (uint32_t f = base + 1; f < base + (2u << j) && f < BF && ok; f++) ok = zone(f) == zone(base);
    if (!ok) break;
    j++;
  }
  return j;
}

static void check(void) {
  for (uint32_t f = 0; f < N; f++)
    if (bit(pmm_bitmap, f) != used[f]) FAIL("bitmap frame %#x: %u, model %u", f, bit(pmm_bitmap, f), used[f]);
  uint32_t nfree = 0, node_free[NUMA_MAX_NODES] = {0};
  for (uint32_t f = 0; f < N; f++)
    if (!used[f]) nfree++, node_free[node_of[f]]++;
  if (nfree != pmm_stats.free_frames) FAIL("free_frames %u, model %u", pmm_stats.free_frames, nfree);
  for (uint32_t n = 0; n < NUMA_MAX_NODES; n++) {
    uint32_t want = nodes > 1 ? node_free[n] : 0;
    if (pmm_node_stats[n].free_frames != want) FAIL("node %u free %u, model %u", n, pmm_node_stats[n].free_frames, want);
  }
  uint32_t lf = lowest_free_below(BF), W = lf == NONE ? NONE : lf / 32;
  if (pmm_hint != W) FAIL("hint %#x, model %#x", pmm_hint, W);
  /* bitmap summaries: bit set exactly when the word below is full (padding set) */
  uint32_t below = (N + 31) / 32;
  for (uint32_t k = 1; k < level_count; k++) {
    for (uint32_t i = 0; i < below; i++)
      if (bit(levels[k], i) != (levels[k - 1][i] == 0xFFFFFFFFu)) FAIL("bitmap summary %u bit %u", k, i);
    below = (below + 31) / 32;
  }
  ref_blocks();
  uint32_t ho = 0, fm = 0, cap = W < BW ? cap_of(W) : 0;
  if (W < BW) {
    if (head_order[W * 32] >= 5) ho = (uint32_t)head_order[W * 32];
    for (uint32_t k = 5; k < cap; k++) {
      uint32_t head = (((W * 32) >> k) ^ 1) << k;
      if (head < BF && head_order[head] == (int)k) fm |= 1u << k;
    }
  }
  if (ho != buddy_hint_order || fm != buddy_front_mask)
    FAIL("front: hint_order %u mask %#x, model %u %#x (hint word %#x)", buddy_hint_order, buddy_front_mask, ho, fm, W);
  for (uint32_t k = 0; k <= BUDDY_MAX_ORDER; k++) {
    uint32_t bits = buddy_map_words[k][0] * 32;
    for (uint32_t i = 0; i < bits; i++) {
      uint32_t head = k < 5 ? i : i << k;
      int maximal = head < BF && head_order[head] == (int)k;
      int exempt = W < BW && (k < 5 ? head / 32 == W
                                    : head == W * 32 || (k < cap && (head >> k) == (((W * 32) >> k) ^ 1)));
      if ((uint32_t)(maximal && !exempt) != bit(buddy_map[k][0], i))
        FAIL("map %u bit %u (frame %#x): %u, model %d (hint word %#x)", k, i, head, bit(buddy_map[k][0], i),
             maximal && !exempt, W);
    }
    for (uint32_t l = 1; l < buddy_map_levels[k]; l++)
      for (uint32_t i = 0; i < buddy_map_words[k][l] * 32; i++) {
        uint32_t want = i < buddy_map_words[k][l - 1] && buddy_map[k][l - 1][i] != 0;
        if (bit(buddy_map[k][l], i) != want) FAIL("map %u summary %u bit %u", k, l, i);
      }
    uint32_t blocks = 0;
    for (uint32_t f = 0; f < BF; f++) blocks += head_order[f] == (int)k;
    if (buddy_free_blocks(k) != blocks) FAIL("buddy_free_blocks(%u) = %u, model %u", k, buddy_free_blocks(k), blocks);
  }
  for (uint32_t f = 0; f < frame_table_frames; f++)
    if (frame_table[f].node != node_of[f]) FAIL("frame %#x node %u, model %u", f, frame_table[f].node, node_of[f]);
}

/* -- held allocations --------------------------------------------------------------- */

struct held {
  uint32_t pfn, n, kind; /* kind: 0 page, 1 block (n = order), 2 pages (n frames) */
};
#define MAX_HELD 20000
static struct held held[MAX_HELD];
static uint32_t nheld;
static void hold(uint32_t pfn, uint32_t n, uint32_t kind) {
  if (nheld < MAX_HELD) held[nheld++] = (struct held){pfn, n, kind};
}
static struct held unhold(uint32_t i) {
  struct held h = held[i];
  held[i] = held[--nheld];
  return h;
}

static uint32_t counters(int which) {
  switch (which) {
  case UNALIGNED: return pmm_stats.unaligned_frees;
  case OUT_OF_RANGE: return pmm_stats.out_of_range_frees;
  case RESERVED: return pmm_stats.reserved_frees;
  case DOUBLE: return pmm_stats.double_frees;
  }
  return 0;
}
static uint32_t all_refusals(void) {
  return pmm_stats.unaligned_frees + pmm_stats.out_of_range_frees + pmm_stats.reserved_frees +
         pmm_stats.double_frees;
}

/* free_page(pa) with the model's verdict checked. */
static void do_free_frame(uint32_t f) {
  uint32_t before = all_refusals();
  int want = ref_free_frame(f);
  uint32_t c = counters(want);
  if (f >= LOW_PFN) pmm_free_frame(f); /* no address below 4 GiB names it */
  else free_page((void *)(uintptr_t)(f * FRAME_SIZE));
  if (want == OK && all_refusals() != before) FAIL("free_page(%#x) refused", f);
  if (want != OK && (counters(want) != c + 1 || all_refusals() != before + 1))
    FAIL("free_page(%#x): not refused as kind %d", f, want);
}

static void do_free_block(uint32_t pfn, uint32_t k) {
  last_op = "free_block";
  uint32_t n = 1u << k, before = all_refusals();
  if (k > BUDDY_MAX_ORDER) {
    uint32_t c = pmm_stats.out_of_range_frees;
    free_block((void *)(uintptr_t)(pfn * FRAME_SIZE), k);
    if (pmm_stats.out_of_range_frees != c + 1 || all_refusals() != before + 1) FAIL("free_block order %u not refused", k);
    return;
  }
  int whole = !(pfn & (n - 1)) && pfn + n <= BF;
  for (uint32_t f = pfn; f < pfn + n && whole; f++) whole = used[f] && !resv[f] && zone(f) == zone(pfn);
  if (whole) {
    mark(pfn, n, 0);
    free_block((void *)(uintptr_t)(pfn * FRAME_SIZE), k);
    if (all_refusals() != before) FAIL("free_block(%#x, %u) of a whole block refused", pfn, k);
    return;
  }
  /* frame by frame, as free_page */
  uint32_t want[5] = {0};
  for (uint32_t f = pfn; f < pfn + n; f++) want[ref_free_frame(f)]++;
  uint32_t c[5];
  for (int i = 1; i < 5; i++) c[i] = counters(i);
  free_block((void *)(uintptr_t)(pfn * FRAME_SIZE), k);
  for (int i = 1; i < 5; i++)
    if (counters(i) != c[i] + want[i]) FAIL("free_block(%#x, %u): kind %d counted %u, model %u", pfn, k, i, counters(i) - c[i], want[i]);
}

/* -- one machine --------------------------------------------------------------------- */

static void boot(unsigned seed) {
  rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
  uint32_t shape = seed % 10;
  phys_limit = 1ull << 32;
  if (shape == 8) N = DIRECT_PFN - 3000 + rnd_below(9000); /* across the direct-map limit */
  else if (shape == 9) {                                 /* PAE: RAM above 4 GiB, bitmap only */
    N = LOW_PFN + 1000 + rnd_below(4000);
    phys_limit = 1ull << 36;
  } else if (shape % 4 == 0) N = 4096;
  else N = 3000 + rnd_below(11000);
  memset(&boot_info, 0, sizeof boot_info);
  uint32_t r = 0;
  boot_info.regions[r++] = (struct boot_memory_region){0, 0x9F000, MULTIBOOT_MEMORY_AVAILABLE};
  boot_info.regions[r++] = (struct boot_memory_region){0x100000, (uint64_t)N * FRAME_SIZE, MULTIBOOT_MEMORY_AVAILABLE};
  for (uint32_t holes = rnd_below(4); holes; holes--) { /* reserved runs */
    uint64_t at = (uint64_t)(256 + rnd_below(N - 256)) * FRAME_SIZE + (rnd_below(2) ? 0 : rnd_below(FRAME_SIZE));
    uint64_t len = (uint64_t)(1 + rnd_below(rnd_below(2) ? 40 : 700)) * FRAME_SIZE;
    boot_info.regions[r++] = (struct boot_memory_region){at, at + len, 2};
  }
  boot_info.region_count = r;
  host_kernel_end = 0x180000 + rnd_below(0x100) * FRAME_SIZE;

  memory_init();
  frame_table_init();
  pmm_buddy_init();
  BF = N < LOW_PFN ? N : LOW_PFN;
  BW = (BF + 31) / 32;
  if (buddy_frame_count != BF) FAIL("buddy_frame_count %u, model %u", buddy_frame_count, BF);

  memset(node_of, 0, sizeof node_of);
  nodes = 1;
  if (rnd_below(3)) { /* NUMA: ranges with boundaries inside words, on words, on odd 512s */
    struct numa_range ranges[NUMA_MAX_RANGES];
    uint32_t count = 0, at = 0;
    nodes = 2 + rnd_below(3);
    while (at < N && count < 6) {
      uint32_t len;
      switch (rnd_below(3)) {
      case 0: len = 1 + rnd_below(N / 3 + 1); break;
      case 1: len = 32 * (1 + rnd_below(N / 96 + 1)); break;
      default: len = 512 * (1 + 2 * rnd_below(N / 2048 + 1)); break;
      }
      uint32_t end = at + len < N ? at + len : N;
      if (rnd_below(5) == 0) { /* a gap: node 0's */
        at = end;
        continue;
      }
      uint32_t node = rnd_below(nodes);
      ranges[count++] = (struct numa_range){(uint64_t)at * FRAME_SIZE, (uint64_t)end * FRAME_SIZE, node};
      for (uint32_t f = at; f < end; f++) node_of[f] = (uint8_t)node;
      at = end;
    }
    pmm_set_nodes(ranges, count, nodes);
  }
  for (uint32_t f = 0; f < N; f++) {
    used[f] = (uint8_t)bit(pmm_bitmap, f); /* boot's own frames: bitmap, frame table, maps */
    resv[f] = (uint8_t)bit(pmm_reserved, f);
  }
  nheld = 0;
  ops_done = 0;
  last_op = "boot";
  check();
}

/* Fills lowest-first to a random occupancy, with the model following. */
static void fill(void) {
  uint32_t target = rnd_below(101), cursor = 0;
  while ((uint64_t)(N - pmm_stats.free_frames) * 100 < (uint64_t)N * target) {
    while (cursor < BF && used[cursor]) cursor++; /* only allocations: the lowest free only rises */
    uint32_t want = cursor < BF ? cursor : NONE;
    void *p = allocate_page();
    if (want == NONE) {
      if (p) FAIL("allocate_page gave %p, model none", p);
      break;
    }
    if ((uintptr_t)p != want * FRAME_SIZE) FAIL("fill: allocate_page %p, model %#x", p, want);
    used[want] = 1;
    hold(want, 1, 0);
  }
}

static void op(void) {
  uint32_t r = rnd_below(100);
  if (r < 25) {
    last_op = "allocate_page";
    uint32_t want = lowest_free_below(BF);
    void *p = allocate_page();
    uint32_t got = p ? (uint32_t)((uintptr_t)p / FRAME_SIZE) : NONE;
    if (got != want) FAIL("allocate_page %#x, model %#x", got, want);
    if (p) used[want] = 1, hold(want, 1, 0);
  } else if (r < 40 && nheld) {
    last_op = "free held frame";
    struct held h = unhold(rnd_below(nheld));
    uint32_t i = rnd_below(h.kind == 0 ? 1 : h.kind == 1 ? 1u << h.n : h.n);
    do_free_frame(h.pfn + i);
    /* the rest of the allocation stays held, frame by frame */
    uint32_t n = h.kind == 0 ? 1 : h.kind == 1 ? 1u << h.n : h.n;
    for (uint32_t f = h.pfn; f < h.pfn + n; f++)
      if (f != h.pfn + i) hold(f, 1, 0);
  } else if (r < 45) {
    last_op = "free any frame";
    uint32_t f = rnd_below(N + 64);
    if (rnd_below(8) == 0 && f < LOW_PFN) { /* unaligned */
      uint32_t c = pmm_stats.unaligned_frees;
      free_page((void *)(uintptr_t)(f * FRAME_SIZE + 1 + rnd_below(FRAME_SIZE - 1)));
      if (pmm_stats.unaligned_frees != c + 1) FAIL("unaligned free not refused");
    } else {
      do_free_frame(f); /* held lists may name it still: the model judges a second free */
    }
  } else if (r < 62) {
    last_op = "allocate_block";
    uint32_t k = rnd_below(4) ? rnd_below(6) : rnd_below(13);
    ref_blocks();
    uint32_t want = k <= BUDDY_MAX_ORDER ? ref_block(k, 0) : NONE;
    uint32_t fail = k <= BUDDY_MAX_ORDER ? buddy_stats.failures[k] : 0;
    void *p = allocate_block(k);
    uint32_t got = p ? (uint32_t)((uintptr_t)p / FRAME_SIZE) : NONE;
    if (got != want) FAIL("allocate_block(%u) %#x, model %#x", k, got, want);
    if (p) mark(want, 1u << k, 1), hold(want, k, 1);
    else if (k <= BUDDY_MAX_ORDER && buddy_stats.failures[k] != fail + 1) FAIL("failure of order %u not counted", k);
  } else if (r < 74 && nheld) {
    uint32_t i = rnd_below(nheld);
    if (held[i].kind == 1) {
      struct held h = unhold(i);
      do_free_block(h.pfn, h.n);
    } else if (held[i].kind == 2) {
      last_op = "free_pages";
      struct held h = unhold(i);
      for (uint32_t f = h.pfn; f < h.pfn + h.n; f++) ref_free_frame(f);
      free_pages((void *)(uintptr_t)(h.pfn * FRAME_SIZE), h.n);
    } else {
      struct held h = unhold(i);
      if (h.pfn >= LOW_PFN) do_free_frame(h.pfn); /* above 4 GiB: no address names it */
      else do_free_block(h.pfn, 0);
    }
  } else if (r < 78) {
    /* any (order, address): unaligned, too large, free, reserved, crossing zones */
    uint32_t k = rnd_below(12), f = rnd_below(N + 64);
    if (rnd_below(2)) f &= ~((1u << (k < 11 ? k : 10)) - 1);
    if (f + (1u << (k < 11 ? k : 0)) > N + 64 || f >= LOW_PFN) return;
    do_free_block(f, k);
    nheld = 0; /* whatever was held may be free now: hold what is used by frames */
    for (uint32_t g = 0; g < N && nheld < MAX_HELD; g++)
      if (used[g] && !resv[g] && rnd_below(4) == 0) hold(g, 1, 0);
  } else if (r < 88) {
    last_op = "allocate_pages";
    uint32_t n = rnd_below(10) ? 2 + rnd_below(rnd_below(2) ? 40 : 1030) : 1025 + rnd_below(1200);
    uint32_t want = NONE, order = 0;
    if (n <= 1024) {
      while ((1u << order) < n) order++;
      ref_blocks();
      want = ref_block(order, 0);
      if (want == NONE) want = ref_block(order, 1);
    } else { /* the lowest run below 4 GiB */
      for (uint32_t f = 0, run = 0; f < BF; f++) {
        run = used[f] ? 0 : run + 1;
        if (run == n) {
          want = f + 1 - n;
          break;
        }
      }
    }
    uint32_t fail = buddy_stats.failures[order];
    void *p = allocate_pages(n);
    uint32_t got = p ? (uint32_t)((uintptr_t)p / FRAME_SIZE) : NONE;
    if (got != want) FAIL("allocate_pages(%u) %#x, model %#x", n, got, want);
    if (p) mark(want, n, 1), hold(want, n, 2);
    else if (n <= 1024 && buddy_stats.failures[order] != fail + 1) FAIL("allocate_pages failure not counted");
  } else if (r < 96) {
    last_op = "user frame";
    uint32_t node = rnd_below(nodes), want = NONE;
    const uint32_t bands[3][2] = {{LOW_PFN, NONE}, {DIRECT_PFN, LOW_PFN}, {0, DIRECT_PFN}};
    for (int b = 0; b < 3 && want == NONE; b++)
      for (uint32_t f = bands[b][0]; f < bands[b][1] && f < N; f++)
        if (!used[f] && (nodes == 1 || node_of[f] == node)) {
          want = f;
          break;
        }
    pfn_t got = nodes == 1 ? pmm_alloc_user_frame() : pmm_alloc_user_frame_node(node);
    if ((want == NONE ? 0 : want) != got) FAIL("user frame (node %u) %#x, model %#x", node, got, want);
    if (got) used[got] = 1, hold(got, 1, 0);
  } else if (r < 97) {
    last_op = "drain";
    while (nheld) {
      struct held h = unhold(nheld - 1);
      uint32_t n = h.kind == 0 ? 1 : h.kind == 1 ? 1u << h.n : h.n;
      for (uint32_t f = h.pfn; f < h.pfn + n; f++) {
        do_free_frame(f);
        if ((nheld & 63) == 0 && N < 20000) check();
      }
    }
  } else {
    /* kmalloc_contig's path is heap.c's; here: a block, freed by free_block */
    last_op = "block round trip";
    ref_blocks();
    uint32_t k = rnd_below(11), want = ref_block(k, 0);
    void *p = allocate_block(k);
    if ((p ? (uint32_t)((uintptr_t)p / FRAME_SIZE) : NONE) != want) FAIL("allocate_block(%u) round trip", k);
    if (p) {
      mark(want, 1u << k, 1);
      check();
      do_free_block(want, k);
    }
  }
}

/* A debugger's poke: a frame inside a mapped block set used behind the
 * allocator's back.  The next block request that meets the block rebuilds
 * the maps (one record, repairs + 1) and never hands the frame out. */
static void poke(void) {
  last_op = "poke";
  ref_blocks();
  uint32_t W = pmm_hint, head = NONE, k = 0;
  for (uint32_t j = 1; j <= BUDDY_MAX_ORDER && head == NONE; j++)
    for (uint32_t f = 0; f < BF; f += 1u << j)
      if (head_order[f] == (int)j && (W == NONE || f / 32 > W + 1) && zone(f) == 0) {
        head = f, k = j;
        break;
      }
  if (head == NONE) return;
  uint32_t victim = head + 1 + rnd_below((1u << k) - 1);
  pmm_bitmap[victim / 32] |= 1u << (victim % 32);
  pmm_stats.free_frames--; /* the count kept true: only the maps are stale */
  if (nodes > 1) pmm_node_stats[node_of[victim]].free_frames--;
  used[victim] = 1;
  uint32_t repairs = buddy_stats.repairs, n = records;
  for (;;) { /* blocks of that order until the poked one is met */
    ref_blocks();
    uint32_t want = ref_block(k, 0);
    void *p = allocate_block(k);
    uint32_t got = p ? (uint32_t)((uintptr_t)p / FRAME_SIZE) : NONE;
    if (got != want) FAIL("after a poke: allocate_block(%u) %#x, model %#x", k, got, want);
    if (!p) break;
    mark(got, 1u << k, 1);
    hold(got, k, 1);
    if (buddy_stats.repairs != repairs) break;
  }
  if (buddy_stats.repairs != repairs + 1 || records != n + 1 || !strstr(last_record, "BUDDY repair=stale-block"))
    FAIL("poke: repairs %u -> %u, record '%s'", repairs, buddy_stats.repairs, last_record);
  hold(victim, 1, 0);
  check();
}

/* The one transition random operations rarely reach (DESIGN.md section 6):
 * a whole word freed right below an empty hint word E whose own block has
 * the same order but is not its buddy (the word below E is odd). */
static void directed_own_buddy(void) {
  if (pmm_hint == NONE) return;
  uint32_t E = (pmm_hint + 3) & ~1u; /* even, two words above the hint at least */
  while (E + 1 < BW && (pmm_reserved[E - 1] || pmm_reserved[E])) E += 2;
  if (E + 1 >= BW) return;
  last_op = "directed: fill through word E + 1";
  while (pmm_bitmap[E + 1] != 0xFFFFFFFFu) { /* lowest first: every word below fills too */
    uint32_t want = lowest_free_below(BF);
    void *p = allocate_page();
    if ((p ? (uint32_t)((uintptr_t)p / FRAME_SIZE) : NONE) != want) FAIL("directed allocate_page");
    if (!p) return;
    used[want] = 1;
  }
  check();
  last_op = "directed: empty word E";
  for (uint32_t f = E * 32; f < E * 32 + 32; f++) {
    do_free_frame(f);
    check();
  }
  do_free_block((E - 1) * 32, 5);
  last_op = "directed: free_block(word E - 1, 5)";
  check();
  last_op = "directed: allocate_block(5) x3";
  for (uint32_t i = 0; i < 3; i++) {
    ref_blocks();
    uint32_t want = ref_block(5, 0);
    void *p = allocate_block(5);
    if ((p ? (uint32_t)((uintptr_t)p / FRAME_SIZE) : NONE) != want) FAIL("directed allocate_block(5)");
    if (p) mark(want, 32, 1), hold(want, 5, 1);
    check();
  }
}

int main(int argc, char **argv) {
  unsigned seeds = argc > 1 ? (unsigned)atoi(argv[1]) : 50, ops = argc > 2 ? (unsigned)atoi(argv[2]) : 1000;
  unsigned first = argc > 3 ? (unsigned)atoi(argv[3]) : 0;
  host_ram = mmap(NULL, 1ull << 32, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (host_ram == MAP_FAILED) return perror("mmap"), 1;
  unsigned long checked = 0;
  for (unsigned s = first; s < first + seeds; s++) {
    seed_now = s;
    memset(host_ram, 0xA5, 16u << 20); /* RAM is not zero: the PMM must not rely on it */
    memset(&pmm_stats, 0, sizeof pmm_stats);
    memset(&buddy_stats, 0, sizeof buddy_stats);
    memset(pmm_node_stats, 0, sizeof pmm_node_stats);
    buddy_ready = false;
    pmm_node_count = 1; /* as at power-on */
    boot(s);
    fill();
    check();
    if (rnd_below(2)) directed_own_buddy();
    unsigned n = N > LOW_PFN ? ops / 50 + 1 : N > 100000 ? ops / 10 + 1 : ops;
    for (ops_done = 1; ops_done <= n; ops_done++) {
      op();
      check();
      checked++;
      if (ops_done % 250 == 0 && rnd_below(2)) poke();
    }
  }
  printf("ok: %u seeds, %lu operations, every one checked\n", seeds, checked);
  return 0;
}
