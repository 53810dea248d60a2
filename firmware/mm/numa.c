/* NUMA nodes from ACPI's SRAT and SLIT, and the per-process allocation
 * policies (see mm/numa.h).
 *
 * What is read from the SRAT: enabled memory affinity entries (type 1) and
 * enabled processor local APIC affinity entries (type 0).  A memory entry
 * flagged hot-pluggable describes memory that may be plugged in later, not
 * RAM there now: it is passed over, as are disabled entries (QEMU pads the
 * table with zero-length disabled ones).  A proximity domain with CPUs but
 * no memory gets no node; its CPUs count as node 0's.  Everything is checked
 * into a scratch layout first, so a refused table leaves nothing behind. */
#include "mm/numa.h"

#include "kernel/acpi.h"
#include "kernel/bootinfo.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/proc.h"
#include "lib/string.h"
#include "mm/pmm.h"

#define SRAT_HEADER_SIZE 48 /* the common header, then 12 reserved bytes */
#define SRAT_CPU 0          /* processor local APIC/SAPIC affinity, 16 bytes */
#define SRAT_MEMORY 1       /* memory affinity, 40 bytes */
#define SRAT_ENABLED 0x1
#define SRAT_HOTPLUG 0x2
#define SLIT_HEADER_SIZE 44 /* the common header, then a 64-bit locality count */
#define TABLE_MAX 4096      /* 8 nodes' SRAT is ~400 bytes, their SLIT 108 */

struct numa_layout numa_layout;
static uint8_t table[TABLE_MAX];

/* One node, everything on it, distances 10 (as before NUMA). */
static void one_node(struct numa_layout *l) {
  memset(l, 0, sizeof *l);
  l->node_count = 1;
  l->cpu_mask[0] = 1;
  l->distance[0][0] = NUMA_LOCAL_DISTANCE;
}

static uint32_t read32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
static uint64_t read64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* The SRAT in table[0, len) into l (ranges sorted, nodes numbered by their
 * lowest address); NULL, or the kind of refusal. */
static const char *parse_srat(uint32_t len, struct numa_layout *l) {
  if (len < SRAT_HEADER_SIZE) return "truncated";
  uint32_t pxm_of_range[NUMA_MAX_RANGES];
  uint32_t cpu_pxm[32], cpu_apic[32], cpus = 0;
  l->range_count = 0;
  for (uint32_t at = SRAT_HEADER_SIZE; at < len;) {
    if (at + 2 > len) return "truncated";
    uint8_t type = table[at], size = table[at + 1];
    if (size < 2 || at + size > len) return "bad-entry";
    const uint8_t *e = table + at;
    if (type == SRAT_CPU && size >= 16 && (read32(e + 4) & SRAT_ENABLED)) {
      if (cpus == ARRAY_SIZE(cpu_pxm)) return "too-many-cpus";
      cpu_pxm[cpus] = e[2] | (uint32_t)e[9] << 8 | (uint32_t)e[10] << 16 | (uint32_t)e[11] << 24;
      cpu_apic[cpus++] = e[3];
    } else if (type == SRAT_MEMORY && size >= 40) {
      uint32_t flags = read32(e + 28);
      uint64_t base = read64(e + 8), length = read64(e + 16);
      if ((flags & SRAT_ENABLED) && !(flags & SRAT_HOTPLUG) && length > 0) {
        if (base + length < base) return "bad-range";
        if (!boot_map_covers(base, base + length)) return "past-memory"; /* or a hole */
        if (l->range_count == NUMA_MAX_RANGES) return "too-many-ranges";
        l->ranges[l->range_count] = (struct numa_range){base, base + length, 0};
        pxm_of_range[l->range_count++] = read32(e + 2);
      }
    }
    at += size;
  }
  if (l->range_count == 0) return "no-memory";
  /* Sort by base (insertion sort: at most 16), then no two may overlap. */
  for (uint32_t i = 1; i < l->range_count; i++)
    for (uint32_t j = i; j > 0 && l->ranges[j].base < l->ranges[j - 1].base; j--) {
      struct numa_range r = l->ranges[j];
      l->ranges[j] = l->ranges[j - 1];
      l->ranges[j - 1] = r;
      uint32_t p = pxm_of_range[j];
      pxm_of_range[j] = pxm_of_range[j - 1];
      pxm_of_range[j - 1] = p;
    }
  for (uint32_t i = 1; i < l->range_count; i++)
    if (l->ranges[i].base < l->ranges[i - 1].end) return "overlap";
  /* Nodes in the order of their lowest address: ranges are sorted, so a
   * domain's first range decides. */
  l->node_count = 0;
  for (uint32_t i = 0; i < l->range_count; i++) {
    uint32_t n = 0;
    while (n < l->node_count && l->pxm[n] != pxm_of_range[i]) n++;
    if (n == l->node_count) {
      if (n == NUMA_MAX_NODES) return "too-many-nodes";
      l->pxm[l->node_count++] = pxm_of_range[i];
    }
    l->ranges[i].node = n;
  }
  for (uint32_t c = 0; c < cpus; c++) {
    uint32_t n = 0;
    while (n < l->node_count && l->pxm[n] != cpu_pxm[c]) n++;
    if (cpu_apic[c] < 32) l->cpu_mask[n < l->node_count ? n : 0] |= 1u << cpu_apic[c];
  }
  return NULL;
}

/* The SLIT in table[0, len) into l->distance (rows and columns of the
 * nodes' proximity domains); NULL, or the kind of refusal. */
static const char *parse_slit(uint32_t len, struct numa_layout *l) {
  if (len < SLIT_HEADER_SIZE) return "truncated";
  uint64_t localities = read64(table + ACPI_HEADER_SIZE);
  if (localities > 255 || len != SLIT_HEADER_SIZE + localities * localities)
    return "bad-length";
  for (uint32_t i = 0; i < l->node_count; i++)
    if (l->pxm[i] >= localities) return "missing-domain";
  for (uint32_t i = 0; i < localities; i++)
    for (uint32_t j = 0; j < localities; j++) {
      uint8_t d = table[SLIT_HEADER_SIZE + i * localities + j];
      if (i == j ? d != NUMA_LOCAL_DISTANCE : d <= NUMA_LOCAL_DISTANCE) return "bad-distance";
    }
  for (uint32_t a = 0; a < l->node_count; a++)
    for (uint32_t b = 0; b < l->node_count; b++)
      l->distance[a][b] = table[SLIT_HEADER_SIZE + l->pxm[a] * localities + l->pxm[b]];
  return NULL;
}

/* A 64-bit address in hex (kprintf's %x takes 32 bits). */
static void hex64(char buf[20], uint64_t v) {
  if (v >> 32) ksnprintf(buf, 20, "0x%x%08x", (uint32_t)(v >> 32), (uint32_t)v);
  else ksnprintf(buf, 20, "0x%08x", (uint32_t)v);
}

static void refuse(const char *kind, const char *which) {
  one_node(&numa_layout);
  krecord("NUMA error=%s table=%s\n", kind, which);
  krecord("NUMA nodes=1 ranges=0 slit=0\n");
}

void numa_init(void) {
  static struct numa_layout l;
  struct acpi_error err;
  one_node(&numa_layout);
  one_node(&l);
  l.cpu_mask[0] = 0;
  int32_t len = acpi_read_table("SRAT", table, sizeof table, &err);
  const char *kind = NULL;
  if (len < 0) return refuse(err.kind, err.table);
  if (len == 0) {
    krecord("NUMA nodes=1 ranges=0 slit=0\n");
    return;
  }
  if ((kind = parse_srat((uint32_t)len, &l)) != NULL) return refuse(kind, "SRAT");
  for (uint32_t a = 0; a < l.node_count; a++)
    for (uint32_t b = 0; b < l.node_count; b++)
      l.distance[a][b] = a == b ? NUMA_LOCAL_DISTANCE : 20;
  len = acpi_read_table("SLIT", table, sizeof table, &err);
  if (len < 0) return refuse(err.kind, err.table);
  if (len > 0 && (kind = parse_slit((uint32_t)len, &l)) != NULL) return refuse(kind, "SLIT");
  numa_layout = l;
  pmm_set_nodes(l.ranges, l.range_count, l.node_count);
  krecord("NUMA nodes=%u ranges=%u slit=%u\n", l.node_count, l.range_count, len > 0 ? 1u : 0u);
  for (uint32_t n = 0; n < l.node_count; n++) {
    uint64_t base = ~0ull, end = 0, frames = 0;
    for (uint32_t i = 0; i < l.range_count; i++) {
      if (l.ranges[i].node != n) continue;
      base = MIN(base, l.ranges[i].base);
      end = MAX(end, l.ranges[i].end);
      frames += (l.ranges[i].end - l.ranges[i].base) >> FRAME_SHIFT;
    }
    char base_hex[20], end_hex[20];
    hex64(base_hex, base);
    hex64(end_hex, end);
    krecord("NUMA node=%u pxm=%u base=%s end=%s frames=%u cpus=0x%x\n", n, l.pxm[n], base_hex,
            end_hex, (uint32_t)frames, l.cpu_mask[n]);
  }
}

uint32_t numa_local_node(void) {
  for (uint32_t n = 0; n < numa_layout.node_count; n++)
    if (numa_layout.cpu_mask[n] & 1u) return n; /* APIC id 0: the one CPU */
  return 0;
}

/* The nodes of mask in distance order from node `from` (ties: the lower
 * node first) into order[]; how many. */
static uint32_t by_distance(uint32_t from, uint32_t mask, uint8_t order[NUMA_MAX_NODES]) {
  uint32_t count = 0;
  for (uint32_t n = 0; n < numa_layout.node_count; n++) {
    if (!(mask & (1u << n))) continue;
    uint32_t at = count++;
    while (at > 0 && numa_layout.distance[from][order[at - 1]] > numa_layout.distance[from][n]) {
      order[at] = order[at - 1];
      at--;
    }
    order[at] = (uint8_t)n;
  }
  return count;
}

struct numa_policy *numa_policy_override;

/* The policy user frames are allocated under now: the override (a child's
 * image being built), else the current process's, else the kernel's local. */
static struct numa_policy *policy_now(void) {
  static struct numa_policy kernel_policy = {.mode = MPOL_LOCAL};
  if (numa_policy_override) return numa_policy_override;
  return current ? &current->mm.mempolicy : &kernel_policy;
}

/* The nodes to try for one frame under policy p, first choice first; how
 * many.  Interleave starts at p->next; the caller moves it on. */
static uint32_t policy_order(const struct numa_policy *p, uint8_t order[NUMA_MAX_NODES]) {
  uint32_t all = (1u << numa_layout.node_count) - 1, local = numa_local_node();
  if (p->mode == MPOL_BIND) return by_distance(local, p->nodes & all, order);
  if (p->mode != MPOL_INTERLEAVE) return by_distance(local, all, order);
  uint32_t count = 0, mask = p->nodes & all;
  for (uint32_t k = 0; k < numa_layout.node_count; k++) {
    uint32_t n = (p->next + k) % numa_layout.node_count;
    if (mask & (1u << n)) order[count++] = (uint8_t)n;
  }
  return count;
}

/* The first node of mask after node `after`, going round (`after` itself
 * when it is the mask's only node). */
static uint8_t next_in_mask(uint32_t after, uint32_t mask) {
  for (uint32_t k = 1; k <= numa_layout.node_count; k++) {
    uint32_t n = (after + k) % numa_layout.node_count;
    if (mask & (1u << n)) return (uint8_t)n;
  }
  return (uint8_t)after;
}

uint32_t numa_allowed_nodes(void) {
  const struct numa_policy *p = policy_now();
  uint32_t all = (1u << numa_layout.node_count) - 1;
  return p->mode == MPOL_BIND ? p->nodes & all : all;
}

pfn_t numa_alloc_user_frame(void) {
  struct numa_policy *p = policy_now();
  uint8_t order[NUMA_MAX_NODES];
  uint32_t count = policy_order(p, order);
  for (uint32_t k = 0; k < count; k++) {
    pfn_t pfn = pmm_alloc_user_frame_node(order[k]);
    if (pfn) {
      if (k > 0) pmm_node_stats[order[k]].fallbacks++;
      /* Strict alternation: the next frame goes to the mask's node after
       * the one that served, even when that was a fallback. */
      if (p->mode == MPOL_INTERLEAVE) p->next = next_in_mask(order[k], p->nodes);
      return pfn;
    }
  }
  return 0;
}

int numa_set_policy(struct numa_policy *p, uint32_t mode, uint32_t nodes) {
  uint32_t all = (1u << numa_layout.node_count) - 1;
  if (mode >= MPOL_MODE_COUNT) return -EINVAL;
  if (mode == MPOL_LOCAL ? nodes != 0 : nodes == 0 || (nodes & ~all)) return -EINVAL;
  p->mode = (uint8_t)mode;
  p->nodes = (uint8_t)nodes;
  p->next = (uint8_t)(nodes ? __builtin_ctz(nodes) : 0);
  return 0;
}
