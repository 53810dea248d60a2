#include "mm/shm.h"
#include "kernel/errno.h"
#include "kernel/proc.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/pmm.h"
#include "mm/reclaim.h"
#include "mm/uvm.h"
#include "mm/vmm.h"

/* A segment holds one frame reference on each of its frames while it exists
 * (the kernel reference of mm/frame.h); each attachment maps them PAGE_OWNED,
 * one more reference each.  A frame is freed when the segment and every
 * attachment are gone, whichever goes last. */
struct segment {
  int32_t id;               /* 0: unused; ids are never reused */
  uint32_t pages;
  uint32_t refs;            /* attachments + the creator's reference */
  uint32_t creator;         /* pid holding the creator's reference, 0 once dropped */
  pfn_t *frames;            /* kmalloc'd; frame numbers (user frames may lie above 4 GiB) */
};

static struct segment segments[SHM_MAX];
static int32_t next_id = 1;

static struct segment *find(int32_t id) {
  for (uint32_t i = 0; i < SHM_MAX; i++)
    if (segments[i].id && segments[i].id == id) return &segments[i];
  return NULL;
}

static void put(struct segment *s) {
  if (--s->refs) return;
  for (uint32_t i = 0; i < s->pages; i++) frame_unref(s->frames[i]);
  kfree(s->frames);
  memset(s, 0, sizeof(*s));
}

int32_t shm_create(struct process *p, uint32_t pages) {
  if (pages == 0 || pages > SHM_MAX_PAGES) return -EINVAL;
  struct segment *s = NULL;
  for (uint32_t i = 0; i < SHM_MAX && !s; i++)
    if (!segments[i].id) s = &segments[i];
  if (!s) return -EAGAIN;
  pfn_t *frames = kcalloc(pages, sizeof(pfn_t));
  if (!frames) return -ENOMEM;
  for (uint32_t i = 0; i < pages; i++) {
    frames[i] = reclaim_user_frame();
    if (!frames[i]) {
      while (i--) frame_unref(frames[i]);
      kfree(frames);
      return -ENOMEM;
    }
    void *k = kmap_pfn(frames[i]);
    memset(k, 0, PAGE_SIZE);
    kunmap(k);
    frame_ref(frames[i]); /* a fresh frame: cannot fail */
    frame_table[frames[i]].flags |= FRAME_PINNED;
  }
  *s = (struct segment){.id = next_id++, .pages = pages, .refs = 1, .creator = p->pid,
                        .frames = frames};
  return s->id;
}

int32_t shm_attach(struct process *p, int32_t id) {
  struct segment *s = find(id);
  if (!s) return -ENOENT;
  struct shm_attachment *slot = NULL;
  for (uint32_t i = 0; i < PROC_SHM_MAX && !slot; i++)
    if (p->mm.shm[i].id < 0) slot = &p->mm.shm[i];
  if (!slot) return -EAGAIN;
  int32_t va = uvm_map_shared(p, s->frames, s->pages);
  if (IS_ERR_VALUE(va)) return va;
  *slot = (struct shm_attachment){.id = id, .va = (vaddr_t)va, .pages = s->pages};
  s->refs++;
  return va;
}

int shm_detach(struct process *p, vaddr_t va) {
  for (uint32_t i = 0; i < PROC_SHM_MAX; i++) {
    struct shm_attachment *a = &p->mm.shm[i];
    if (a->id < 0 || a->va != va) continue;
    uvm_unmap_shared(p, a->va, a->pages);
    struct segment *s = find(a->id);
    a->id = -1;
    if (s) put(s);
    return 0;
  }
  return -EINVAL;
}

void shm_release_all(struct process *p) {
  for (uint32_t i = 0; i < PROC_SHM_MAX; i++)
    if (p->mm.shm[i].id >= 0) shm_detach(p, p->mm.shm[i].va);
  for (uint32_t i = 0; i < SHM_MAX; i++)
    if (segments[i].id && segments[i].creator == p->pid) {
      segments[i].creator = 0;
      put(&segments[i]);
    }
}

void shm_inherit(const struct process *child) {
  for (uint32_t i = 0; i < PROC_SHM_MAX; i++) {
    struct segment *s = child->mm.shm[i].id >= 0 ? find(child->mm.shm[i].id) : NULL;
    if (s) s->refs++;
  }
}
