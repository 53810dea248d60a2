/* Processes: ring-3 programs, each in its own address space, scheduled round
 * robin.  The kernel itself is pid 0 (no process is current). */
#pragma once

struct file;

#include "kernel/fcntl.h"
#include "mm/mm.h"
#include "types.h"

#define PROC_MAX 16               /* processes at once (spawn beyond: -EAGAIN) */
#define PROC_NAME_MAX 32
#define PROC_ARGS_MAX 128
#define PROC_MAX_PAGES 4096       /* user pages a process may reserve (16 MiB) */
#define PROC_KSTACK_PAGES 2       /* kernel stack, below it an unmapped guard page */
#define PROC_HISTORY 32           /* finished processes remembered for the harness */

enum proc_state { PROC_FREE, PROC_READY, PROC_RUNNING, PROC_BLOCKED, PROC_ZOMBIE };

struct process {
  /* Its address space (mm/mm.h).  First, so that &p->mm is p itself: the
   * calls that pass it on from a process cost no instruction (with it after
   * name, a COW fault took 10 more, an mmap + munmap 9). */
  struct mm mm;
  uint32_t pid;
  uint32_t state;                 /* enum proc_state */
  char name[PROC_NAME_MAX];
  vaddr_t kstack_base, kstack_top; /* [base, top) mapped; the guard page is below */
  uint32_t saved_esp;             /* kernel stack pointer while switched out */
  uint32_t parent;                /* pid of the spawner, 0 for the kernel */
  uint32_t waiting_for;           /* blocked in wait(pid) */
  int32_t wait_result;
  uint32_t kill_pending;          /* kill(pid) asked for its end: see proc_kill_request */
  struct file *files[FD_MAX];     /* open files by descriptor (kernel/file.h); 0-2 unused */
};

/* What became of a finished process (the harness compares it with the log). */
struct proc_record {
  uint32_t pid;
  char name[PROC_NAME_MAX];
  int32_t status;                 /* exit status; -1 when killed */
  uint32_t killed;                /* 1 if the kernel killed it */
  char reason[24];                /* why it was killed ("" for a normal exit) */
  vaddr_t addr;                   /* the fault address, for faults */
  uint32_t err;
  vaddr_t eip;
  uint32_t parent;                /* pid of its parent when it ended */
  uint32_t waited;                /* 1 once wait/waitpid returned it */
};

extern struct process proc_table[PROC_MAX];
extern struct process *current;   /* NULL while the kernel runs for itself */
extern struct proc_record proc_history[PROC_HISTORY];
extern uint32_t proc_finished;    /* processes finished since boot */

uint32_t current_pid(void);

/* Starts module `name` with `args` ("" for none) as a new READY process.
 * Returns its pid, or -ENOENT (no such module), -EINVAL (not a valid
 * program), -EAGAIN (process table full), -ENOMEM. */
int proc_spawn(const char *name, const char *args, uint32_t parent);
/* Ends the current process with `status` (never returns). */
void proc_exit(int32_t status) __attribute__((noreturn));
/* Ends the current process for a fault or exception (never returns). */
void proc_kill(const char *reason, vaddr_t addr, uint32_t err, vaddr_t eip)
    __attribute__((noreturn));
/* Blocks until child `pid` ends; its exit status, or -ESRCH / -EPERM. */
int32_t proc_wait(uint32_t pid);
/* waiting_for while blocked in waitpid(-1): any child. */
#define WAIT_ANY 0xFFFFFFFFu
/* waitpid(pid > 0, or -1 for any child): blocks until such a child of the
 * caller has ended and not been waited for yet (the history remembers it if
 * it ended before), writes its status (the exit status, -1 when killed)
 * through status_ptr unless 0, and returns its pid.  -ECHILD when there is no
 * such child, -EFAULT for a bad status_ptr (the child stays unwaited),
 * -EINVAL for pid 0 or below -1. */
int32_t proc_waitpid(int32_t pid, vaddr_t status_ptr);
/* Replaces the current process's image with module `name` run with `args`
 * (argv[0] is the name): a fresh address space built as spawn does, and only
 * once it is complete the old one is dropped, its shared memory detached and
 * its mmap regions forgotten; pid, parent and limits stay.  tf (the caller's
 * trap frame) then enters the new program.  0, or -ENOENT / -EINVAL / -ENOMEM
 * with the caller untouched.  One record:
 *   EXEC pid=<n> name=<name> cr3=<hex> heap=<hex> shm=<hex> stack=<hex> */
struct trapframe;
int proc_exec(struct trapframe *tf, const char *name, const char *args);

/* The pieces of spawn that fork (kernel/fork.c) uses too.  proc_new takes a
 * free table slot with a kernel stack (0, or -EAGAIN / -ENOMEM); the process
 * is not runnable until proc_start gives it a pid (returned) and makes it
 * READY; proc_discard gives back a process that never started.
 * proc_set_first_frame makes its first switch-in return to ring 3 with tf. */
int proc_new(const char *name, uint32_t parent, struct process **out);
uint32_t proc_start(struct process *p);
void proc_discard(struct process *p);
void proc_set_first_frame(struct process *p, const struct trapframe *tf);
/* Asks process `pid` (the caller or a child of it) to end.  It is killed,
 * reason "killed", the next time it is in the kernel and could be switched
 * out: when it is switched back in, at the next preemption point of a long
 * system call, or when its current system call returns (one that has never
 * run yet: at its first system call or timer tick).  A blocked process is
 * woken for it.  0, or -ESRCH (no such live process) / -EPERM. */
int32_t proc_kill_request(uint32_t pid);
extern bool sched_interrupting; /* see sched_interrupt */
/* kill_pending's value when the OOM rule (mm/reclaim.h) chose the process,
 * and when a system call's copy met a page lost with its swap slot (mm/fault.c). */
#define PROC_KILL_OOM 2
#define PROC_KILL_SWAP_IO 3
#define PROC_REASON_INTERRUPTED "interrupted"

/* Ends the current process if a kill is pending for it, or the run is being
 * interrupted (inline: it is on every system call's and every switch's path). */
static inline void proc_kill_if_pending(void) {
  if (!current) return;
  if (__builtin_expect(sched_interrupting, 0)) proc_kill(PROC_REASON_INTERRUPTED, 0, 0, 0);
  if (current->kill_pending)
    proc_kill(current->kill_pending == PROC_KILL_OOM       ? "out-of-memory"
              : current->kill_pending == PROC_KILL_SWAP_IO ? "swap-io"
                                                           : "killed",
              0, 0, 0);
}

/* Runs processes until none is runnable; returns how many finished meanwhile. */
uint32_t sched_run(void);
/* The same, calling ended (if not NULL) with each process's record as it
 * ends, however many end: the history keeps only the last PROC_HISTORY. */
uint32_t sched_run_reporting(void (*ended)(const struct proc_record *r));
/* Stops the run: every process is killed (reason PROC_REASON_INTERRUPTED)
 * the next time it enters the kernel, by a system call, a fault or a timer
 * tick, until sched_run returns.  Safe from an interrupt handler. */
void sched_interrupt(void);
/* Gives the CPU to the next runnable process (from a system call or IRQ). */
void sched_yield(void);
/* Back to the scheduler after the current process blocked or ended; when it
 * is switched back in, a pending kill ends it. */
void sched_switch_out(void);
/* Long system calls call this between bounded chunks of work (interrupts
 * are off in the kernel, so nothing else can interrupt them): a timer tick
 * since the process was switched in yields the CPU (with preempt=on), and a
 * pending kill ends the process. */
void sched_preempt_point(void);
