/* The process table: spawn, exit, kill, wait.  Scheduling is in sched.c. */
#include "kernel/proc.h"
#include "kernel/file.h"
#include "arch/i386/cpu.h"
#include "fs/fs.h"
#include "arch/i386/gdt.h"
#include "arch/i386/trapframe.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/modules.h"
#include "kernel/panic.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/mmap.h"
#include "mm/pmm.h"
#include "mm/shm.h"
#include "mm/uvm.h"

#define EFLAGS_RESERVED 0x2u
#define KSTACK_SLOT ((PROC_KSTACK_PAGES + 1) * PAGE_SIZE) /* guard page + stack */
_Static_assert(KSTACK_AREA_BASE + PROC_MAX * KSTACK_SLOT <= CPU_STACK_AREA_BASE,
               "process kernel stacks stay below the CPUs' stacks");

struct process proc_table[PROC_MAX];
struct process *current;
struct proc_record proc_history[PROC_HISTORY];
uint32_t proc_finished;
static uint32_t next_pid = 1;

static void mark_waited(uint32_t pid);

void trap_return(void);

uint32_t current_pid(void) { return current ? current->pid : 0; }

/* The kernel stack of table slot i: unmapped guard page, then the stack. */
static int kstack_alloc(struct process *p, uint32_t slot) {
  vaddr_t guard = KSTACK_AREA_BASE + slot * KSTACK_SLOT;
  p->kstack_base = guard + PAGE_SIZE;
  p->kstack_top = p->kstack_base + PROC_KSTACK_PAGES * PAGE_SIZE;
  for (vaddr_t va = p->kstack_base; va < p->kstack_top; va += PAGE_SIZE) {
    paddr_t frame = alloc_kernel_frame();
    if (!frame || vmm_map(&kernel_page_directory, va, frame, PAGE_WRITE | PAGE_OWNED) != 0) {
      if (frame) free_page((void *)frame);
      for (vaddr_t done = p->kstack_base; done < va; done += PAGE_SIZE)
        vmm_unmap(&kernel_page_directory, done, NULL);
      return -ENOMEM;
    }
  }
  return 0;
}

static void kstack_free(struct process *p) {
  for (vaddr_t va = p->kstack_base; va < p->kstack_top; va += PAGE_SIZE)
    vmm_unmap(&kernel_page_directory, va, NULL); /* PAGE_OWNED: frames freed */
}

/* A kernel stack that switch_context can switch to: the trap frame tf for
 * the first iret to ring 3, trap_return as the return address, and the four
 * callee-saved registers switch_context pops. */
void proc_set_first_frame(struct process *p, const struct trapframe *tf) {
  struct trapframe *frame = (struct trapframe *)p->kstack_top - 1;
  *frame = *tf;
  uint32_t *sp = (uint32_t *)frame;
  *--sp = (uint32_t)trap_return;
  for (int i = 0; i < 4; i++) *--sp = 0; /* ebp, ebx, esi, edi */
  p->saved_esp = (uint32_t)sp;
}

/* The trap frame of a program's first instruction. */
static void user_entry_frame(struct trapframe *tf, vaddr_t entry, vaddr_t esp) {
  memset(tf, 0, sizeof(*tf));
  tf->gs = tf->fs = tf->es = tf->ds = SEG_UDATA;
  tf->cs = SEG_UCODE;
  tf->user_ss = SEG_UDATA;
  tf->eip = entry;
  tf->user_esp = esp;
  /* Interrupts on in ring 3: the PIC lets only the timer through, and only
   * while it ticks (preempt=on, or the shell's run watching for Ctrl-C). */
  tf->eflags = EFLAGS_RESERVED | EFLAGS_IF;
}

int proc_new(const char *name, uint32_t parent, struct process **out) {
  uint32_t slot = PROC_MAX;
  for (uint32_t i = 0; i < PROC_MAX && slot == PROC_MAX; i++)
    if (proc_table[i].state == PROC_FREE) slot = i;
  if (slot == PROC_MAX) return -EAGAIN;
  struct process *p = &proc_table[slot];
  memset(p, 0, sizeof(*p));
  for (uint32_t i = 0; i < PROC_SHM_MAX; i++) p->mm.shm[i].id = -1;
  p->mm.users = 1; /* its one thread; cpu_mask stays 0 (mm/mm.h) */
  mmap_init_process(p); /* limits first: uvm_create checks them */
  strlcpy(p->name, name, sizeof(p->name));
  p->parent = parent;
  int rc = kstack_alloc(p, slot);
  if (rc) return rc;
  *out = p;
  return 0;
}

void proc_discard(struct process *p) {
  uvm_destroy(p);
  kstack_free(p);
  p->state = PROC_FREE;
}

uint32_t proc_start(struct process *p) {
  p->pid = next_pid++;
  p->state = PROC_READY;
  return p->pid;
}

/* The program called name: a module, or for a name starting with '/' a file
 * of the file system (copied into the kernel heap until release_program). */
static int find_program(const char *name, struct module *out) {
  if (name[0] == '/') return fs_program(name, out);
  return module_find(name, out) ? 0 : -ENOENT;
}

static void release_program(struct module *m) {
  if (m->name[0] == '/') fs_program_free(m);
}

int proc_spawn(const char *name, const char *args, uint32_t parent) {
  struct module module;
  int rc = find_program(name, &module);
  if (rc) return rc;
  const struct module *m = &module;
  struct process *p;
  rc = proc_new(name, parent, &p);
  if (rc) {
    release_program(&module);
    return rc;
  }
  if (current && current->pid == parent) p->mm.mempolicy = current->mm.mempolicy; /* inherited */
  /* argv[0] is the program's name, then its arguments (or the module's own). */
  char argv_text[PROC_ARGS_MAX];
  ksnprintf(argv_text, sizeof(argv_text), "%s %s", name, args && *args ? args : m->args);
  vaddr_t entry, esp;
  numa_policy_override = &p->mm.mempolicy; /* the child's image, under the child's policy */
  rc = uvm_create(p, m, argv_text, &entry, &esp);
  numa_policy_override = NULL;
  release_program(&module);
  if (rc) {
    proc_discard(p);
    return rc;
  }
  struct trapframe tf;
  user_entry_frame(&tf, entry, esp);
  proc_set_first_frame(p, &tf);
  proc_start(p);
  krecord("SPAWN pid=%u name=%pq parent=%u cr3=%p heap=%p shm=%p stack=%p\n", p->pid, p->name,
          parent, (void *)p->mm.cr3, (void *)p->mm.heap_base, (void *)p->mm.shm_base,
          (void *)p->mm.stack_top);
  return (int)p->pid;
}

/* Records how p ended, wakes a parent waiting for it, and hands the CPU
 * back for good: the scheduler frees what is left (stack, address space). */
static void __attribute__((noreturn)) finish(struct process *p, struct proc_record *r) {
  shm_release_all(p);
  files_close_all(p);
  r->pid = p->pid;
  r->parent = p->parent;
  strlcpy(r->name, p->name, sizeof(r->name));
  proc_history[proc_finished++ % PROC_HISTORY] = *r;
  if (r->killed) /* where, for every kill: a PF record comes only with page faults */
    krecord("EXIT pid=%u name=%pq status=%d killed=1 reason=%s addr=%p err=0x%x eip=%p\n",
            r->pid, r->name, r->status, r->reason, (void *)r->addr, r->err, (void *)r->eip);
  else
    krecord("EXIT pid=%u name=%pq status=%d killed=0 reason=exit\n", r->pid, r->name,
            r->status);
  for (uint32_t i = 0; i < PROC_MAX; i++) {
    struct process *q = &proc_table[i];
    if (q->state == PROC_BLOCKED &&
        (q->waiting_for == p->pid || (q->waiting_for == WAIT_ANY && q->pid == p->parent))) {
      q->wait_result = r->status;
      q->state = PROC_READY;
    }
  }
  p->state = PROC_ZOMBIE;
  sched_switch_out();
  PANIC("a finished process was scheduled again (pid %u)", p->pid);
}

void proc_exit(int32_t status) {
  struct proc_record r = {.status = status};
  finish(current, &r);
}

void proc_kill(const char *reason, vaddr_t addr, uint32_t err, vaddr_t eip) {
  struct proc_record r = {.status = -1, .killed = 1, .addr = addr, .err = err, .eip = eip};
  strlcpy(r.reason, reason, sizeof(r.reason));
  finish(current, &r);
}

int32_t proc_kill_request(uint32_t pid) {
  for (uint32_t i = 0; i < PROC_MAX; i++) {
    struct process *q = &proc_table[i];
    if (q->pid != pid || q->state == PROC_FREE || q->state == PROC_ZOMBIE) continue;
    if (q != current && q->parent != current_pid()) return -EPERM;
    q->kill_pending = 1;
    if (q->state == PROC_BLOCKED) q->state = PROC_READY; /* to die, not to wait on */
    return 0;
  }
  return -ESRCH;
}

/* Called by the scheduler, in the kernel's address space, once p will never
 * run again. */
void proc_reap(struct process *p) {
  uvm_destroy(p);
  kstack_free(p);
  p->state = PROC_FREE;
}

int32_t proc_wait(uint32_t pid) {
  for (uint32_t i = 0; i < PROC_MAX; i++) {
    struct process *q = &proc_table[i];
    if (q->pid != pid || q->state == PROC_FREE || q->state == PROC_ZOMBIE) continue;
    if (q->parent != current->pid) return -EPERM;
    current->waiting_for = pid;
    current->state = PROC_BLOCKED;
    sched_switch_out(); /* back here once it ended (finish() wakes us) */
    current->waiting_for = 0;
    mark_waited(pid);
    return current->wait_result;
  }
  for (uint32_t i = 0; i < MIN(proc_finished, (uint32_t)PROC_HISTORY); i++)
    if (proc_history[i].pid == pid) { /* already ended */
      proc_history[i].waited = 1;
      return proc_history[i].status;
    }
  return -ESRCH;
}

/* -- waitpid ----------------------------------------------------------------- */

/* The record of a child of the caller that ended and was not waited for yet
 * (pid, or any child for WAIT_ANY), or NULL. */
static struct proc_record *unwaited_child(uint32_t pid) {
  for (uint32_t i = 0; i < MIN(proc_finished, (uint32_t)PROC_HISTORY); i++) {
    struct proc_record *r = &proc_history[i];
    if (!r->waited && r->parent == current->pid && (pid == WAIT_ANY || r->pid == pid)) return r;
  }
  return NULL;
}

/* Whether a child of the caller (pid, or any for WAIT_ANY) is still running. */
static bool live_child(uint32_t pid) {
  for (uint32_t i = 0; i < PROC_MAX; i++) {
    const struct process *q = &proc_table[i];
    if (q->state == PROC_FREE || q->state == PROC_ZOMBIE || q->parent != current->pid) continue;
    if (pid == WAIT_ANY || q->pid == pid) return true;
  }
  return false;
}

static void mark_waited(uint32_t pid) {
  for (uint32_t i = 0; i < MIN(proc_finished, (uint32_t)PROC_HISTORY); i++)
    if (proc_history[i].pid == pid) proc_history[i].waited = 1;
}

int32_t proc_waitpid(int32_t pid, vaddr_t status_ptr) {
  if (pid <= 0 && pid != -1) return -EINVAL;
  uint32_t want = pid == -1 ? WAIT_ANY : (uint32_t)pid;
  for (;;) {
    struct proc_record *r = unwaited_child(want);
    if (r) {
      int32_t status = r->status;
      if (status_ptr && copy_to_user(status_ptr, &status, sizeof(status)) != 0) return -EFAULT;
      r->waited = 1;
      return (int32_t)r->pid;
    }
    if (!live_child(want)) return -ECHILD;
    current->waiting_for = want;
    current->state = PROC_BLOCKED;
    sched_switch_out(); /* back once a child of ours ended (finish() wakes us) */
    current->waiting_for = 0;
  }
}

/* -- exec -------------------------------------------------------------------- */

/* exec builds the new image here (one CPU, nothing switches in the middle of
 * exec): the process's own fields change only once it is complete. */
static struct process exec_scratch;

int proc_exec(struct trapframe *tf, const char *name, const char *args) {
  struct module module;
  int rc = find_program(name, &module);
  if (rc) return rc;
  struct process *p = current, *n = &exec_scratch;
  *n = *p;
  char argv_text[PROC_ARGS_MAX];
  ksnprintf(argv_text, sizeof(argv_text), "%s %s", name, args && *args ? args : module.args);
  vaddr_t entry, esp;
  rc = uvm_create(n, &module, argv_text, &entry, &esp);
  release_program(&module);
  if (rc) {
    uvm_destroy(n);
    return rc;
  }
  /* Complete: from here on nothing fails.  Shared memory goes with the old
   * image (the creator's hold on a segment stays with the pid); so do the
   * mmap regions. */
  struct mm *mm = &p->mm;
  const struct mm *fresh = &n->mm;
  for (uint32_t i = 0; i < PROC_SHM_MAX; i++)
    if (mm->shm[i].id >= 0) shm_detach(p, mm->shm[i].va);
  page_directory_t *old = mm->dir;
  mm->dir = fresh->dir;
  mm->cr3 = fresh->cr3;
  mm->image_end = fresh->image_end;
  mm->heap_base = fresh->heap_base;
  mm->brk = fresh->brk;
  mm->stack_top = fresh->stack_top;
  mm->stack_limit = fresh->stack_limit;
  mm->shm_base = fresh->shm_base;
  mm->mmap_base = fresh->mmap_base;
  mm->pages = fresh->pages;
  mm->swapped_pages = 0; /* the old image's swap entries go with its directory */
  mm->reserved_pages = fresh->reserved_pages;
  mm->region_count = 0;
  strlcpy(p->name, name, sizeof(p->name));
  switch_page_directory(mm->dir);
  destroy_page_directory(old);
  user_entry_frame(tf, entry, esp);
  krecord("EXEC pid=%u name=%pq cr3=%p heap=%p shm=%p stack=%p\n", p->pid, p->name,
          (void *)mm->cr3, (void *)mm->heap_base, (void *)mm->shm_base, (void *)mm->stack_top);
  return 0;
}
