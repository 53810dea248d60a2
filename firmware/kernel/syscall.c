/* System call dispatch: validate, copy across the boundary, call the
 * subsystem.  Every pointer from user space goes through copy_*_user. */
#include "kernel/syscall.h"
#include "mm/swap.h"
#include "arch/i386/trapframe.h"
#include "fs/fs.h"
#include "kernel/errno.h"
#include "kernel/mman.h"
#include "kernel/file.h"
#include "kernel/fork.h"
#include "kernel/kprintf.h"
#include "kernel/proc.h"
#include "kernel/serial.h"
#include "kernel/shell.h"
#include "mm/mmap.h"
#include "mm/numa.h"
#include "mm/shm.h"
#include "mm/uvm.h"

/* A write() of any length goes out in chunks of WRITE_CHUNK bytes with a
 * preemption point between them, so the time the CPU spends in it without a
 * chance to switch or end the process is one chunk's (README, "Processes"). */
#define WRITE_CHUNK 64
#define STDOUT 1
#define STDERR 2

static int32_t sys_write(uint32_t fd, vaddr_t buf, uint32_t len) {
  if (fd > STDERR) return sys_write_fd(fd, buf, len);
  if (fd != STDOUT && fd != STDERR) return -EINVAL;
  char chunk[WRITE_CHUNK];
  for (uint32_t done = 0; done < len;) {
    if (done) sched_preempt_point();
    uint32_t n = len - done < WRITE_CHUNK ? len - done : WRITE_CHUNK;
    if (copy_from_user(chunk, buf + done, n) != 0) return done ? (int32_t)done : -EFAULT;
    serial_write(chunk, n);
    /* The harness's copy, on the channel user code cannot write, says whose
     * bytes these are; the console's raw copy is for people. */
    krecord_quiet("OUT pid=%u fd=%u data=%*pq\n", current->pid, fd, (int)n, chunk);
    done += n;
  }
  return (int32_t)len;
}

/* read(0, buf, len): what arrived on COM1, at most READ_CHUNK bytes a call;
 * blocks (yielding the CPU, a preemption point each time round) until at
 * least one byte is there.  The bytes reach the buffer through copy_to_user,
 * so a copy-on-write buffer is copied first. */
#define READ_CHUNK 64
#define STDIN 0

static int32_t sys_read(uint32_t fd, vaddr_t buf, uint32_t len) {
  if (fd > STDERR) return sys_read_fd(fd, buf, len);
  if (fd != STDIN) return -EINVAL;
  if (len == 0) return 0;
  char chunk[READ_CHUNK];
  uint32_t n;
  while ((n = shell_read_input(chunk, MIN(len, (uint32_t)READ_CHUNK))) == 0) {
    sched_preempt_point();
    sched_yield();
  }
  if (copy_to_user(buf, chunk, n) != 0) return -EFAULT;
  krecord_quiet("IN pid=%u fd=0 data=%*pq\n", current->pid, (int)n, chunk);
  return (int32_t)n;
}

/* A program's name and arguments from user space, for spawn and exec: 0 or
 * -errno (a NULL args pointer means no arguments). */
static int copy_program(vaddr_t name_ptr, vaddr_t args_ptr, char name[PROC_NAME_MAX],
                        char args[PROC_ARGS_MAX]) {
  int rc = strncpy_from_user(name, name_ptr, PROC_NAME_MAX);
  if (rc < 0) return rc;
  args[0] = '\0';
  if (args_ptr && (rc = strncpy_from_user(args, args_ptr, PROC_ARGS_MAX)) < 0) return rc;
  return 0;
}

static int32_t sys_spawn(vaddr_t name_ptr, vaddr_t args_ptr) {
  char name[PROC_NAME_MAX], args[PROC_ARGS_MAX];
  int rc = copy_program(name_ptr, args_ptr, name, args);
  return rc ? rc : proc_spawn(name, args, current->pid);
}

static int32_t sys_exec(struct trapframe *tf, vaddr_t name_ptr, vaddr_t args_ptr) {
  char name[PROC_NAME_MAX], args[PROC_ARGS_MAX];
  int rc = copy_program(name_ptr, args_ptr, name, args);
  return rc ? rc : proc_exec(tf, name, args);
}

/* mmap: anonymous, or of the file open on descriptor fd (a file of the file
 * system: a raw disk cannot be mapped, EINVAL). */
static int32_t sys_mmap(vaddr_t addr, uint32_t len, uint32_t prot, uint32_t flags, uint32_t fd,
                        uint32_t offset) {
  if (flags & MAP_ANONYMOUS) return mmap_map(current, addr, len, prot, flags);
  struct file *f = fd < FD_MAX ? current->files[fd] : NULL;
  if (!f) return -EBADF;
  const struct fs_file *file = fs_file_of(f);
  return file ? mmap_map_file(current, addr, len, prot, flags, file, offset) : -EINVAL;
}

void syscall_dispatch(struct trapframe *tf) {
  uint32_t a = tf->ebx, b = tf->ecx, c = tf->edx;
  int32_t ret;
  switch (tf->eax) {
  case SYS_EXIT: proc_exit((int32_t)a);
  case SYS_WRITE: ret = sys_write(a, b, c); break;
  case SYS_SBRK: ret = uvm_sbrk(current, (int32_t)a); break;
  case SYS_BRK: ret = uvm_brk(current, a); break;
  case SYS_SHM_CREATE: ret = shm_create(current, a); break;
  case SYS_SHM_ATTACH: ret = shm_attach(current, (int32_t)a); break;
  case SYS_SHM_DETACH: ret = shm_detach(current, a); break;
  case SYS_YIELD: sched_yield(); ret = 0; break;
  case SYS_GETPID: ret = (int32_t)current->pid; break;
  case SYS_SPAWN: ret = sys_spawn(a, b); break;
  case SYS_WAIT: ret = proc_wait(a); break;
  case SYS_KILL: ret = proc_kill_request(a); break;
  case SYS_FORK: ret = proc_fork(tf); break;
  case SYS_EXEC: ret = sys_exec(tf, a, b); break;
  case SYS_WAITPID: ret = proc_waitpid((int32_t)a, b); break;
  case SYS_READ: ret = sys_read(a, b, c); break;
  case SYS_MMAP: ret = sys_mmap(a, b, c, tf->esi, tf->edi, tf->ebp); break;
  case SYS_MUNMAP: ret = mmap_unmap(current, a, b); break;
  case SYS_MPROTECT: ret = mmap_protect(current, a, b, c); break;
  case SYS_GETRLIMIT: ret = mmap_getrlimit(current, a); break;
  case SYS_SETRLIMIT: ret = mmap_setrlimit(current, a, b); break;
  case SYS_OPEN: ret = sys_open(a, b); break;
  case SYS_CLOSE: ret = sys_close(a); break;
  case SYS_PREAD: ret = sys_pread(a, b, c, tf->esi); break;
  case SYS_PWRITE: ret = sys_pwrite(a, b, c, tf->esi); break;
  case SYS_FSYNC: ret = sys_fsync(a); break;
  case SYS_SYNC: ret = sys_sync(); break;
  case SYS_STAT: ret = sys_stat(a, b); break;
  case SYS_FSTAT: ret = sys_fstat(a, b); break;
  case SYS_LSEEK: ret = sys_lseek(a, (int32_t)b, c); break;
  case SYS_PAGEOUT: ret = swap_pageout(current, a, b); break;
  case SYS_SET_MEMPOLICY: ret = numa_set_policy(&current->mm.mempolicy, a, b); break;
  default: ret = -ENOSYS;
  }
  proc_kill_if_pending(); /* kill(own pid) */
  tf->eax = (uint32_t)ret;
}
