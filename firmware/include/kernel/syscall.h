/* System calls: `int 0x80` with the number in EAX and arguments in EBX, ECX,
 * EDX, ESI; the result comes back in EAX (negative errno on failure).  Shared with
 * the user programs' libc (firmware/user/), so it holds numbers only. */
#pragma once

#define SYS_EXIT 1        /* exit(status): does not return */
#define SYS_WRITE 2       /* write(fd, buf, len): bytes written; fd 1, 2: COM1, and OUT records */
#define SYS_SBRK 3        /* sbrk(increment): the old break */
#define SYS_BRK 4         /* brk(address): 0 */
#define SYS_SHM_CREATE 5  /* shm_create(pages): a segment id */
#define SYS_SHM_ATTACH 6  /* shm_attach(id): the address it is mapped at */
#define SYS_SHM_DETACH 7  /* shm_detach(address): 0 */
#define SYS_YIELD 8       /* yield(): 0 */
#define SYS_GETPID 9      /* getpid(): the caller's pid */
#define SYS_SPAWN 10      /* spawn(module name, args): the child's pid */
#define SYS_WAIT 11       /* wait(pid): the child's exit status (blocks until it ends) */
#define SYS_KILL 12       /* kill(pid): 0; the caller or its child ends, reason "killed" */
#define SYS_FORK 13       /* fork(): the child's pid in the parent, 0 in the child */
#define SYS_EXEC 14       /* exec(module name, args): replaces the caller's image; no return */
#define SYS_WAITPID 15    /* waitpid(pid or -1, int *status): the pid that ended, its status */
#define SYS_READ 16       /* read(fd, buf, len): bytes read; fd 0 is COM1's input */
#define SYS_MMAP 17       /* mmap(addr, len, prot, flags in ESI): the address (kernel/mman.h) */
#define SYS_MUNMAP 18     /* munmap(addr, len): 0 */
#define SYS_MPROTECT 19   /* mprotect(addr, len, prot): 0 */
#define SYS_GETRLIMIT 20  /* getrlimit(resource): the limit (kernel/mman.h) */
#define SYS_SETRLIMIT 21  /* setrlimit(resource, value): 0; a limit can only be lowered */
#define SYS_OPEN 22       /* open(path, O_* flags): a descriptor >= 3 (kernel/fcntl.h) */
#define SYS_CLOSE 23      /* close(fd): 0 */
#define SYS_PREAD 24      /* pread(fd, buf, len, offset in ESI): bytes read */
#define SYS_PWRITE 25     /* pwrite(fd, buf, len, offset in ESI): bytes written (raw disks) */
#define SYS_FSYNC 26      /* fsync(fd): 0 once the descriptor's disk has its data */
#define SYS_SYNC 27       /* sync(): 0 once every dirty buffer is on its disk */
#define SYS_STAT 28       /* stat(path, struct stat *): 0 */
#define SYS_FSTAT 29      /* fstat(fd, struct stat *): 0 */
#define SYS_LSEEK 30      /* lseek(fd, offset, whence): the new offset */
#define SYS_PAGEOUT 31    /* pageout(addr, len): pages of the range swapped out now (mm/swap.h) */
#define SYS_SET_MEMPOLICY 32 /* set_mempolicy(mode, node mask): 0 (mm/numa.h) */
#define SYS_COUNT 33
/* read(fd >= 3) and write(fd >= 3) use and advance the descriptor's offset.
 * mmap of a file: flags without MAP_ANONYMOUS, the descriptor in EDI and the
 * file offset (bytes, page aligned) in EBP. */

#ifndef __ASSEMBLER__
#include "types.h"
struct trapframe;
void syscall_dispatch(struct trapframe *tf);
#endif
