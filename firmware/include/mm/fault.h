/* The page-fault handler and its records.
 *
 * Each #PF is decoded once into a struct page_fault, classified, and answered
 * with one decision (resolved, fixed up, killed, panic).  The decision is
 * counted, kept in a ring buffer the harness reads (fault_log), and printed as
 * one record:
 *   PF vec=14 addr=<cr2> err=<hex> eip=<hex> cs=<hex> pid=<n> kind=<kind>
 *      access=<read|write|fetch> mode=<user|kernel> action=<action> reason=<reason>
 * Faults resolved by demand paging print only when the command line has
 * `fault_log=all` (they are the common case and printing costs more than
 * resolving); everything else always prints. */
#pragma once

#include "arch/i386/trapframe.h"
#include "types.h"

enum fault_kind { FAULT_NOT_PRESENT, FAULT_PROTECTION, FAULT_RESERVED_BIT };
enum fault_action { FAULT_RESOLVED, FAULT_FIXUP, FAULT_KILL, FAULT_PANIC };

/* Why a fault could not be resolved (or how it was). */
enum fault_reason {
  REASON_DEMAND_PAGE,      /* resolved: a fresh zeroed page */
  REASON_STACK_GROWTH,     /* resolved: the stack grew down */
  REASON_NULL_POINTER,
  REASON_WRITE_TO_READ_ONLY,
  REASON_KERNEL_ADDRESS,
  REASON_UNMAPPED,
  REASON_STACK_OVERFLOW,
  REASON_RESERVED_BIT,
  REASON_OUT_OF_MEMORY,
  REASON_USER_ACCESS,      /* kernel touched user memory outside copy_*_user */
  REASON_EXEC_NX,          /* instruction fetch from a present no-execute page */
  REASON_COW,              /* resolved: a write to a copy-on-write page copied or took it back */
  REASON_GUARD,            /* an access to a PROT_NONE mmap region (mm/mmap.h) */
  REASON_LIMIT,            /* a demand fault beyond the resident-pages limit */
  REASON_SWAP_IN,          /* resolved: the page came back from swap (pool or disk) */
  REASON_SWAP_IO,          /* the page's swap slot could not be read back */
  REASON_FILE_PAGE,        /* resolved: a file page mapped from the page cache */
  REASON_FILE_IO,          /* a file page could not be read, or lies past the file's end */
  REASON_COUNT
};

struct page_fault {
  vaddr_t addr;           /* CR2 */
  uint32_t err;           /* the CPU's error code */
  vaddr_t eip;
  uint32_t cs;
  bool present, write, user, reserved, fetch; /* the error code, decoded */
};

/* One entry of the ring buffer.  seq counts every fault since boot, so the
 * harness can tell which entries are new. */
struct fault_record {
  uint32_t seq;
  vaddr_t addr;
  uint32_t err;
  vaddr_t eip;
  uint32_t pid;
  uint8_t kind, action, reason, unused;
};

#define FAULT_LOG_SIZE 32

struct fault_stats {
  uint32_t total;
  uint32_t by_kind[3];     /* indexed by enum fault_kind */
  uint32_t by_action[4];   /* indexed by enum fault_action */
  uint32_t user, kernel;
};

extern struct fault_stats fault_stats;
extern struct fault_record fault_log[FAULT_LOG_SIZE];

void fault_init(void);
void page_fault_handler(struct trapframe *tf);
/* The names the PF record uses ("null-pointer", "not-present", "kill"), or
 * "?" for a value out of range. */
const char *fault_reason_name(enum fault_reason r);
const char *fault_kind_name(enum fault_kind k);
const char *fault_action_name(enum fault_action a);

/* Kernel accesses that may fault on purpose.  Each returns 0 on success and
 * -EFAULT if the access faulted; the fault is recorded with action=fixup.
 * Used by copy_from_user/copy_to_user and by tests that probe protections. */
int probe_read32(vaddr_t addr, uint32_t *out);
int probe_write32(vaddr_t addr, uint32_t value);
