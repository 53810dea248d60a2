/* Numbers for mmap/munmap/mprotect and the resource limits, shared with the
 * user programs' libc (firmware/user/), so it holds numbers only.  The values
 * are Linux's, so a reader knows them. */
#pragma once

#define PROT_NONE 0x0
#define PROT_READ 0x1
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4

#define MAP_SHARED 0x01          /* shared with every process that inherits it by fork */
#define MAP_PRIVATE 0x02         /* private: demand-zero, copy-on-write across fork */
#define MAP_FIXED 0x10           /* exactly at addr, replacing mmap regions there */
#define MAP_ANONYMOUS 0x20       /* not backed by a file (the only kind, for now) */
#define MAP_FIXED_NOREPLACE 0x100000 /* exactly at addr, -EEXIST if anything is there */

/* Resources for getrlimit/setrlimit; every limit is per process, inherited
 * by fork, and can be lowered, never raised. */
#define RLIMIT_AS_PAGES 0        /* pages of address space reserved (image, heap, stack, shm, mmap) */
#define RLIMIT_RESIDENT_PAGES 1  /* user frames mapped at once */
#define RLIMIT_MAPPINGS 2        /* mmap regions */
#define RLIMIT_COUNT 3
