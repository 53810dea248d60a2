/* Round-robin scheduling.  The scheduler runs on the stack of whoever called
 * sched_run (the boot stack, or the harness's call); each process runs on its
 * own kernel stack, and switching goes process -> scheduler -> process, so
 * the scheduler is the one place that picks, switches address spaces and
 * frees what finished processes leave behind. */
#include "arch/i386/cpu.h"
#include "arch/i386/gdt.h"
#include "dev/balloon.h"
#include "fs/bcache.h"
#include "kernel/kprintf.h"
#include "kernel/lockdep.h"
#include "kernel/panic.h"
#include "kernel/proc.h"
#include "kernel/timer.h"
#include "mm/vmm.h"

void switch_context(uint32_t *save_esp, uint32_t new_esp);
void proc_reap(struct process *p);

static uint32_t scheduler_esp;
static uint32_t last; /* slot that ran last: the search for the next starts after it */
static uint32_t slice_start; /* timer_ticks when the current process was switched in */

static struct process *pick_next(void) {
  for (uint32_t n = 1; n <= PROC_MAX; n++) {
    struct process *p = &proc_table[(last + n) % PROC_MAX];
    if (p->state == PROC_READY) {
      last = (last + n) % PROC_MAX;
      return p;
    }
  }
  return NULL;
}

bool sched_interrupting;

void sched_interrupt(void) { sched_interrupting = true; }

uint32_t sched_run(void) { return sched_run_reporting(NULL); }

uint32_t sched_run_reporting(void (*ended)(const struct proc_record *r)) {
  uint32_t finished = proc_finished;
  ASSERT(!current);
  for (struct process *p; (p = pick_next()) != NULL;) {
    p->state = PROC_RUNNING;
    current = p;
    slice_start = timer_ticks;
    tss_set_kernel_stack(p->kstack_top);
    switch_page_directory(p->mm.dir);
    switch_context(&scheduler_esp, p->saved_esp);
    current = NULL;
    /* A safe point for the buffer cache's periodic flush: between processes,
     * not in an interrupt; nothing to do (and no call) while nothing is dirty. */
    if (bcache_stats.dirty) bcache_periodic_flush();
    if (p->state == PROC_ZOMBIE) {
      switch_page_directory(&kernel_page_directory); /* not the one being freed */
      /* A process records how it ended, then switches here at once: its
       * record is the latest, whatever the history has forgotten since. */
      const struct proc_record *r = &proc_history[(proc_finished - 1) % PROC_HISTORY];
      ASSERT(r->pid == p->pid);
      if (ended) ended(r);
      proc_reap(p);
    }
    /* The same safe point for the balloon's target changes, after the reap:
     * an inflation can then have the frames the zombie held. */
    balloon_poll();
  }
  switch_page_directory(&kernel_page_directory);
  sched_interrupting = false;
  return proc_finished - finished;
}

void sched_switch_out(void) {
  lockdep_assert_none_held("sched_switch_out"); /* the next thread may want it */
  switch_context(&current->saved_esp, scheduler_esp);
  proc_kill_if_pending();
}

void sched_preempt_point(void) {
  /* Whether or not the timer ticks this time: a lock held here is held into
   * an interrupt window, or into another thread. */
  lockdep_assert_none_held("sched_preempt_point");
  if (timer_ticking()) {
    /* An interrupt window: a tick that came while interrupts were off is
     * taken here, and with it the watch (the shell's Ctrl-C). */
    sti();
    __asm__ volatile("nop");
    cli();
    if (timer_preemption() && timer_ticks != slice_start) sched_yield();
  }
  proc_kill_if_pending();
}

void sched_yield(void) {
  current->state = PROC_READY;
  sched_switch_out();
}
