/* A process the harness drives one memory operation at a time: at each
 * checkpoint(step) the harness (through GDB) writes an operation into
 * `request` and continues; the program performs it, stores the result and
 * stops at the next checkpoint.  Operations that fault (a write to a guard or
 * read-only page) end the process the way any program's would, so the harness
 * judges the kernel's answer, not this program's account of it.
 *
 * After a fork both processes run this loop.  Each marks its request done
 * (VM_WAIT) once performed, and at a checkpoint with nothing to do it yields:
 * scheduling is cooperative, so the process the harness wants next runs to
 * its checkpoint while the others only go round yielding. */
#include "ulib.h"

enum vm_op {
  VM_EXIT = 0,      /* exit(value) */
  VM_MMAP = 1,      /* mmap(addr, len, prot, flags) */
  VM_MUNMAP = 2,    /* munmap(addr, len) */
  VM_MPROTECT = 3,  /* mprotect(addr, len, prot) */
  VM_WRITE = 4,     /* *(uint32_t *)addr = value */
  VM_READ = 5,      /* result = *(uint32_t *)addr */
  VM_GETRLIMIT = 6, /* getrlimit(value) */
  VM_SETRLIMIT = 7, /* setrlimit(flags, value) */
  VM_SBRK = 8,      /* sbrk(value) */
  VM_SHM = 9,       /* shm_attach(shm_create(len pages)) */
  VM_FORK = 10,     /* fork(): the child's pid here, 0 in the child */
  VM_WAIT = 11,     /* nothing to do: yield until the harness writes a request */
  VM_TOUCH = 12,    /* the first word of each page in [addr, addr + len) = value + i */
  VM_PAGEOUT = 13,  /* pageout(addr, len): swap the range out now (mm/swap.h) */
  VM_OPEN = 14,     /* open(path at addr, flags): the descriptor */
};

struct vm_request {
  uint32_t op, addr, len, prot, flags, value;
  int32_t result;
  uint32_t step; /* the checkpoint the program is stopped at */
};

/* Initialised, so it lives in .data: mapped from the start. */
volatile struct vm_request request = {.op = VM_EXIT, .result = -1};

static int32_t perform(volatile struct vm_request *r) {
  switch (r->op) {
  case VM_MMAP: return (int32_t)mmap((void *)r->addr, r->len, (int)r->prot, (int)r->flags);
  case VM_MUNMAP: return munmap((void *)r->addr, r->len);
  case VM_MPROTECT: return mprotect((void *)r->addr, r->len, (int)r->prot);
  case VM_WRITE: *(volatile uint32_t *)r->addr = r->value; return 0;
  case VM_READ: return (int32_t)*(volatile uint32_t *)r->addr;
  case VM_GETRLIMIT: return getrlimit((int)r->value);
  case VM_SETRLIMIT: return setrlimit((int)r->flags, r->value);
  case VM_SBRK: return (int32_t)sbrk((intptr_t)r->value);
  case VM_FORK: return fork();
  case VM_PAGEOUT: return pageout((void *)r->addr, r->len);
  case VM_OPEN: return open((const char *)r->addr, (int)r->flags);
  case VM_TOUCH:
    for (uint32_t i = 0; i < r->len / 4096; i++)
      *(volatile uint32_t *)(r->addr + i * 4096) = r->value + i;
    return 0;
  case VM_SHM: {
    int id = shm_create(r->len);
    return id < 0 ? id : (int32_t)shm_attach(id);
  }
  default: return -38; /* ENOSYS */
  }
}

int main(void) {
  for (uint32_t step = 1;; step++) {
    request.step = step;
    checkpoint((int)step);
    if (request.op == VM_WAIT) {
      yield();
      continue;
    }
    if (request.op == VM_EXIT) return (int)request.value;
    request.result = perform(&request);
    request.op = VM_WAIT; /* in a forked child too: it must not fork again */
  }
}
