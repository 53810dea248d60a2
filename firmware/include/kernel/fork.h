/* fork(): a new process whose address space is a copy-on-write copy of the
 * caller's.
 *
 * Every user page of the parent (in its image, heap, stack, shared-memory
 * attachments and mmap regions: nothing else is mapped in a user half) is
 * mapped in the child to the same frame, one more frame reference each
 * (mm/frame.h):
 *   - shared-memory attachments and MAP_SHARED regions stay writable in both;
 *   - every other writable page becomes read-only + PAGE_COW in both (its
 *     frame FRAME_COW); the first write in either copies it (mm/uvm.c), or
 *     takes it back when the writer holds the last reference;
 *   - read-only pages (text, mprotect'ed ones) are shared as they are.
 * The child's page tables are all allocated before any parent entry changes,
 * so a fork that runs out of frames leaves the parent exactly as it was.
 * The parent's stale writable translations go with one CR3 reload (kernel
 * pages are global and stay), not an invlpg per page.
 * The child gets a copy of the process (layout, limits, regions, shm
 * attachments with their segment references) and of the parent's trap
 * frame with EAX = 0; its parent is the caller.  One record:
 *   FORK parent=<pid> child=<pid> pages=<n> shared=<n> cow=<n>
 * (pages: entries copied; shared: writable ones shared; cow: copy-on-write
 * ones; the rest are read-only). */
#pragma once

#include "types.h"

struct trapframe;

/* The child's pid, or -EAGAIN (process table full) / -ENOMEM. */
int proc_fork(const struct trapframe *tf);
