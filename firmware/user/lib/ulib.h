/* The user programs' whole C library: system call stubs and a little
 * formatting.  Results are the kernel's: negative errno on failure. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void exit(int status) __attribute__((noreturn));
int write(int fd, const void *buf, size_t len);
void *sbrk(intptr_t increment); /* (void *)-errno on failure */
int brk(void *addr);
int shm_create(unsigned pages);
void *shm_attach(int id);       /* (void *)-errno on failure */
int shm_detach(void *addr);
int yield(void);
int getpid(void);
int spawn(const char *name, const char *args);
int wait(int pid);
int kill(int pid);
/* A raw system call, for programs that pass what the stubs would not. */
int syscall3(int number, uint32_t a, uint32_t b, uint32_t c);

size_t strlen(const char *s);
void *memset(void *dst, int c, size_t n);
int atoi(const char *s);
/* printf subset: %d %u %x %p %s %c; printf writes to COM1 through write(). */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
/* Instructions since boot under -icount (the TSC), for the benchmarks. */
static inline uint32_t rdtsc32(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
  (void)hi;
  return lo;
}
/* The harness puts breakpoints here: an out-of-line no-op with an argument. */
void checkpoint(int n) __attribute__((noinline));
#define IS_ERR(p) ((uint32_t)(p) >= 0xFFFFF000u)
/* Processes (issue 17): fork returns the child's pid, 0 in the child;
 * exec returns only on failure; waitpid(pid or -1, &status) the pid that ended. */
int fork(void);
int exec(const char *name, const char *args);
int waitpid(int pid, int *status);
int read(int fd, void *buf, size_t len);

/* mmap, munmap, mprotect and the resource limits (kernel/mman.h, mm/mmap.h).
 * mmap returns the address, or (void *)-errno (IS_ERR). */
#include "kernel/mman.h"
int syscall4(int number, uint32_t a, uint32_t b, uint32_t c, uint32_t d);
void *mmap(void *addr, size_t len, int prot, int flags);
int munmap(void *addr, size_t len);
int mprotect(void *addr, size_t len, int prot);
int getrlimit(int resource);            /* the limit, or -errno */
int setrlimit(int resource, unsigned value); /* lower only: raising is -EPERM */

/* Files and raw disks (kernel/fcntl.h, kernel/file.h): each returns what the
 * kernel does, a negative errno on failure.  "/dev/hda".."/dev/hdd" are raw
 * disks; read/write on a descriptor >= 3 use its offset. */
#include "kernel/fcntl.h"
int open(const char *path, int flags);
int close(int fd);
int pread(int fd, void *buf, size_t len, unsigned offset);
int pwrite(int fd, const void *buf, size_t len, unsigned offset);
int fsync(int fd);
int sync(void);
int stat(const char *path, struct stat *st);
int fstat(int fd, struct stat *st);
int lseek(int fd, int offset, int whence);
/* Swaps out the pages of [addr, addr + len) now (mm/swap.h): how many went. */
int pageout(void *addr, size_t len);
/* mmap of an open file from byte `offset` (page aligned), flags without
 * MAP_ANONYMOUS: the address, or (void *)-errno (IS_ERR). */
void *mmap_file(void *addr, size_t len, int prot, int flags, int fd, uint32_t offset);

/* NUMA (mm/numa.h): where this process's frames come from from now on
 * (and its children's: fork and spawn inherit it).  0 or -EINVAL. */
#define MPOL_LOCAL 0      /* the local node, then the others nearest first */
#define MPOL_INTERLEAVE 1 /* round robin over the mask's nodes */
#define MPOL_BIND 2       /* the mask's nodes only */
int set_mempolicy(int mode, unsigned nodes);
