/* Shared memory: segments of frames that any process can attach (at an
 * address of its own), reference counted.  The creator holds a reference
 * until it exits or detaches; each attachment holds one; the frames go back
 * to the PMM with the last reference. */
#pragma once

#include "types.h"

#define SHM_MAX 16          /* segments at once */
#define SHM_MAX_PAGES 256   /* pages per segment */

struct process;

/* A new zeroed segment of `pages` pages: its id, or -EINVAL / -EAGAIN (table
 * full) / -ENOMEM. */
int32_t shm_create(struct process *p, uint32_t pages);
/* Maps segment `id` into p: the address, or -ENOENT (no such segment),
 * -EAGAIN (p has PROC_SHM_MAX attachments), -ENOMEM. */
int32_t shm_attach(struct process *p, int32_t id);
/* Unmaps the attachment at `va`: 0 or -EINVAL. */
int shm_detach(struct process *p, vaddr_t va);
/* Drops everything p holds (at exit). */
void shm_release_all(struct process *p);
/* fork: the child inherits p's attachments (its page tables already map
 * them); each takes one more reference on its segment. */
void shm_inherit(const struct process *child);
