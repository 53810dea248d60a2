/* NUMA: which physical memory and which CPUs belong to which node, read from
 * the ACPI tables the firmware (QEMU's, or a real machine's) provides, and the
 * per-process allocation policies that use it.
 *
 * numa_init() runs after frame_table_init (the tables may lie anywhere below
 * 4 GiB, so they are read through kmap): it finds the RSDP (EBDA, then
 * 0xE0000-0xFFFFF), the RSDT, the SRAT (memory and processor affinity) and
 * the SLIT (distances), checks every table, and on success hands the node
 * layout to the PMM (pmm_set_nodes, mm/pmm.h).  Without an SRAT there is one
 * node, as before NUMA.  A malformed or hostile table (bad checksum, a
 * truncated or overlong table, overlapping memory ranges, a range outside
 * the boot memory map (past its top or in a hole), more nodes than
 * NUMA_MAX_NODES, a SLIT without a node's proximity domain, a distance
 * matrix that is not 10 on its diagonal and > 10 off it) is refused whole,
 * never partly trusted: one record
 *   NUMA error=<kind> table=<SRAT|SLIT|RSDT>
 * and the machine runs as one node (a bad RSDP is no RSDP: no tables, one
 * node, no error record).  On success one record
 *   NUMA nodes=<n> ranges=<n> slit=<0|1>
 * and one per node
 *   NUMA node=<i> pxm=<proximity domain> base=<hex> end=<hex> frames=<n> cpus=<hex mask>
 * (base/end: the node's lowest and highest address; a node may have several
 * ranges, e.g. node 0 around the 640 KiB - 1 MiB hole). */
#pragma once

#include "types.h"

#define NUMA_MAX_NODES 8
#define NUMA_MAX_RANGES 16
#define NUMA_LOCAL_DISTANCE 10 /* ACPI: a node's distance to itself */

/* One SRAT memory affinity range, [base, end) in bytes, on node `node`
 * (nodes are numbered 0..count-1 in the order of their lowest address, and
 * the proximity domain is kept beside). */
struct numa_range {
  uint64_t base, end;
  uint32_t node;
};

struct numa_layout {
  uint32_t node_count;                 /* 1 without (or with a refused) SRAT */
  uint32_t range_count;
  struct numa_range ranges[NUMA_MAX_RANGES];
  uint32_t pxm[NUMA_MAX_NODES];        /* each node's ACPI proximity domain */
  uint32_t cpu_mask[NUMA_MAX_NODES];   /* APIC ids (bit i: APIC id i) of its CPUs */
  uint8_t distance[NUMA_MAX_NODES][NUMA_MAX_NODES]; /* SLIT, or 10 / 20 without one */
};

extern struct numa_layout numa_layout;

void numa_init(void);

/* The node of the CPU running now (CPU 0 until there are several). */
uint32_t numa_local_node(void);

/* Allocation policies, per process (struct process.mempolicy), inherited by
 * fork and spawn.  set_mempolicy(mode, nodemask) is syscall 32. */
enum numa_policy_mode {
  MPOL_LOCAL = 0,      /* the local node, then the others in distance order */
  MPOL_INTERLEAVE = 1, /* round robin over the mask's nodes, page by page:
                          after node n, the mask's next node after n (when a
                          node is full, the next of the mask serves, and the
                          round goes on from there: strict alternation) */
  MPOL_BIND = 2,       /* only the mask's nodes, nearest first; none free: OOM */
  MPOL_MODE_COUNT
};

struct numa_policy {
  uint8_t mode;        /* enum numa_policy_mode */
  uint8_t nodes;       /* node mask (bit i: node i); 0 for MPOL_LOCAL */
  uint8_t next;        /* interleave: the mask's node to try first next time */
  uint8_t pad;
};

/* A user frame (its number) under the current process's policy (the
 * kernel's own requests use MPOL_LOCAL; numa_policy_override, when set,
 * wins over both), or 0 when the allowed nodes are exhausted.
 * pmm_alloc_user_frame() calls this when there are 2+ nodes. */
pfn_t numa_alloc_user_frame(void);

/* The policy user frames follow while set: spawn builds the child's image
 * under the child's policy, not its parent's (whose interleave cursor would
 * move otherwise).  NULL the rest of the time. */
extern struct numa_policy *numa_policy_override;

/* The nodes (mask) numa_alloc_user_frame may take a frame from now: a bound
 * policy's mask, else every node.  Reclaim frees frames there. */
uint32_t numa_allowed_nodes(void);

/* set_mempolicy's work on one policy: MPOL_LOCAL takes mask 0, bind and
 * interleave a non-empty mask of existing nodes; anything else (or a mode
 * past MPOL_MODE_COUNT) is -EINVAL and leaves the policy as it was. */
int numa_set_policy(struct numa_policy *p, uint32_t mode, uint32_t nodes);
