/* The page-fault handler: decode once, decide once, record, then act. */
#include "mm/fault.h"
#include "mm/extable.h"
#include "arch/i386/cpu.h"
#include "arch/i386/paging.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "kernel/proc.h"
#include "mm/reclaim.h"
#include "mm/uvm.h"
#include "mm/vmm.h"
#include "lib/string.h"
#include "memlayout.h"

struct fault_stats fault_stats;
struct fault_record fault_log[FAULT_LOG_SIZE];
static bool log_resolved; /* fault_log=all */

static const char *const reason_names[REASON_COUNT] = {
    [REASON_DEMAND_PAGE] = "demand-page",
    [REASON_STACK_GROWTH] = "stack-growth",
    [REASON_NULL_POINTER] = "null-pointer",
    [REASON_WRITE_TO_READ_ONLY] = "write-to-read-only",
    [REASON_KERNEL_ADDRESS] = "kernel-address",
    [REASON_UNMAPPED] = "unmapped",
    [REASON_STACK_OVERFLOW] = "stack-overflow",
    [REASON_RESERVED_BIT] = "reserved-bit",
    [REASON_OUT_OF_MEMORY] = "out-of-memory",
    [REASON_USER_ACCESS] = "user-access",
    [REASON_EXEC_NX] = "exec-nx",
    [REASON_COW] = "cow",
    [REASON_GUARD] = "guard",
    [REASON_LIMIT] = "limit",
    [REASON_SWAP_IN] = "swap-in",
    [REASON_SWAP_IO] = "swap-io",
    [REASON_FILE_PAGE] = "file-page",
    [REASON_FILE_IO] = "file-io",
};
static const char *const kind_names[] = {"not-present", "protection", "reserved-bit"};
static const char *const action_names[] = {"resolved", "fixup", "kill", "panic"};

const char *fault_reason_name(enum fault_reason r) {
  return r < REASON_COUNT ? reason_names[r] : "?";
}

const char *fault_kind_name(enum fault_kind k) {
  return (uint32_t)k < ARRAY_SIZE(kind_names) ? kind_names[k] : "?";
}

const char *fault_action_name(enum fault_action a) {
  return (uint32_t)a < ARRAY_SIZE(action_names) ? action_names[a] : "?";
}

/* Kernel instructions allowed to fault, and where to continue when they do
 * (pairs emitted by EXTABLE_EFAULT, mm/extable.h, into the .extable section). */
struct extable_entry {
  vaddr_t insn, fixup;
};
extern const struct extable_entry __extable_start[], __extable_end[];

static vaddr_t extable_lookup(vaddr_t eip) {
  for (const struct extable_entry *e = __extable_start; e < __extable_end; e++)
    if (e->insn == eip) return e->fixup;
  return 0;
}

static struct page_fault decode(const struct trapframe *tf) {
  uint32_t err = tf->err;
  return (struct page_fault){
      .addr = read_cr2(),
      .err = err,
      .eip = tf->eip,
      .cs = tf->cs,
      .present = err & PF_ERR_PRESENT,
      .write = err & PF_ERR_WRITE,
      .user = err & PF_ERR_USER,
      .reserved = err & PF_ERR_RSVD,
      .fetch = err & PF_ERR_FETCH,
  };
}

static enum fault_kind classify(const struct page_fault *pf) {
  if (pf->reserved) return FAULT_RESERVED_BIT;
  return pf->present ? FAULT_PROTECTION : FAULT_NOT_PRESENT;
}

/* Why an access the kernel will not resolve failed. */
static enum fault_reason unresolved_reason(const struct page_fault *pf) {
  if (pf->reserved) return REASON_RESERVED_BIT;
  if (pf->addr < PAGE_SIZE) return REASON_NULL_POINTER;
  if (pf->user && pf->addr >= KERNEL_BASE) return REASON_KERNEL_ADDRESS;
  if (pf->present && pf->write) return REASON_WRITE_TO_READ_ONLY;
  if (!pf->user && pf->present && pf->addr < KERNEL_BASE) return REASON_USER_ACCESS;
  /* The kernel fetching from its own NX page (heap, stack, data) is a bug,
   * maybe an exploit's: it panics like any kernel fault (SMEP's counterpart). */
  if (pf->present && pf->fetch) return REASON_EXEC_NX;
  return REASON_UNMAPPED;
}

static void record(const struct page_fault *pf, uint32_t pid, enum fault_kind kind,
                   enum fault_action action, enum fault_reason reason) {
  uint32_t seq = fault_stats.total++;
  fault_stats.by_kind[kind]++;
  fault_stats.by_action[action]++;
  if (pf->user) fault_stats.user++;
  else fault_stats.kernel++;
  fault_log[seq % FAULT_LOG_SIZE] = (struct fault_record){
      .seq = seq, .addr = pf->addr, .err = pf->err, .eip = pf->eip, .pid = pid,
      .kind = (uint8_t)kind, .action = (uint8_t)action, .reason = (uint8_t)reason};
  if (action == FAULT_RESOLVED && !log_resolved) return;
  krecord("PF vec=14 addr=%p err=0x%x eip=%p cs=0x%x pid=%u kind=%s access=%s mode=%s "
          "action=%s reason=%s\n",
          (void *)pf->addr, pf->err, (void *)pf->eip, pf->cs, pid, kind_names[kind],
          pf->fetch ? "fetch" : pf->write ? "write" : "read", pf->user ? "user" : "kernel",
          action_names[action], fault_reason_name(reason));
}

void fault_init(void) {
  static const char *const modes[] = {"errors", "all"};
  log_resolved = cmdline_choice("fault_log", modes, ARRAY_SIZE(modes), 0) == 1;
}

void page_fault_handler(struct trapframe *tf) {
  struct page_fault pf = decode(tf);
  enum fault_kind kind = classify(&pf);
  uint32_t pid = current_pid();
  vaddr_t fixup = pf.user ? 0 : extable_lookup(pf.eip);

  /* A process's own fault, or the kernel's user-copy routines touching its
   * memory: demand paging may resolve it. */
  if (current && (pf.user || (fixup && pf.addr < USER_TOP))) {
    /* A new page table may come from the reserve.  Saved and put back, not
     * cleared: a fault nested inside this one must not take the permission
     * away from the rest of the outer fault. */
    bool may_use_reserve = vmm_table_may_use_reserve;
    vmm_table_may_use_reserve = true;
    enum fault_reason reason = uvm_fault(current, &pf);
    vmm_table_may_use_reserve = may_use_reserve;
    if (reason == REASON_DEMAND_PAGE || reason == REASON_STACK_GROWTH || reason == REASON_COW ||
        reason == REASON_SWAP_IN || reason == REASON_FILE_PAGE) {
      record(&pf, pid, kind, FAULT_RESOLVED, reason);
      return;
    }
    /* Out of memory while the OOM victim (another process) ends: let it run
     * and free its pages, then the instruction faults again.  Only here, for
     * a user fault: nothing is held (a system call's copy fails instead). */
    if (pf.user && reason == REASON_OUT_OF_MEMORY && reclaim_victim_leaving) {
      reclaim_victim_leaving = false;
      sched_yield();
      return;
    }
    if (pf.user) {
      record(&pf, pid, kind, FAULT_KILL, reason);
      proc_kill(fault_reason_name(reason), pf.addr, pf.err, pf.eip);
    }
    /* A page lost with its swap slot is lost to the process: the system call
     * ends with -EFAULT, releasing what it holds, and the pending kill ends
     * the process on its way out of the kernel. */
    if (reason == REASON_SWAP_IO) current->kill_pending = PROC_KILL_SWAP_IO;
    record(&pf, pid, kind, FAULT_FIXUP, reason); /* copy_*_user returns -EFAULT */
    tf->eip = fixup;
    return;
  }
  if (fixup) {
    record(&pf, pid, kind, FAULT_FIXUP, unresolved_reason(&pf));
    tf->eip = fixup;
    return;
  }
  enum fault_reason reason = unresolved_reason(&pf);
  record(&pf, pid, kind, FAULT_PANIC, reason);
  PANIC("%s-mode page fault at %p (%s), eip=%p", pf.user ? "user" : "kernel",
        (void *)pf.addr, fault_reason_name(reason), (void *)pf.eip);
}

/* The probes: one instruction that may fault, listed in .extable with the
 * address to continue at, which makes the probe return -EFAULT. */
int probe_read32(vaddr_t addr, uint32_t *out) {
  int ret;
  uint32_t value;
  __asm__ volatile(
      "1: movl (%2), %1\n\t"
      "xorl %0, %0\n"
      EXTABLE_EFAULT("%3")
      : "=&r"(ret), "=&r"(value)
      : "r"(addr), "i"(-EFAULT)
      : "memory");
  if (ret == 0) *out = value;
  return ret;
}

int probe_write32(vaddr_t addr, uint32_t value) {
  int ret;
  __asm__ volatile(
      "1: movl %2, (%1)\n\t"
      "xorl %0, %0\n"
      EXTABLE_EFAULT("%3")
      : "=&r"(ret)
      : "r"(addr), "r"(value), "i"(-EFAULT)
      : "memory");
  return ret;
}
