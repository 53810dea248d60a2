#include "ulib.h"
#include "kernel/syscall.h"

int syscall3(int number, uint32_t a, uint32_t b, uint32_t c) {
  int ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(number), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

void exit(int status) {
  syscall3(SYS_EXIT, (uint32_t)status, 0, 0);
  for (;;) {
  }
}

int write(int fd, const void *buf, size_t len) {
  return syscall3(SYS_WRITE, (uint32_t)fd, (uint32_t)buf, len);
}
void *sbrk(intptr_t increment) { return (void *)syscall3(SYS_SBRK, (uint32_t)increment, 0, 0); }
int brk(void *addr) { return syscall3(SYS_BRK, (uint32_t)addr, 0, 0); }
int shm_create(unsigned pages) { return syscall3(SYS_SHM_CREATE, pages, 0, 0); }
void *shm_attach(int id) { return (void *)syscall3(SYS_SHM_ATTACH, (uint32_t)id, 0, 0); }
int shm_detach(void *addr) { return syscall3(SYS_SHM_DETACH, (uint32_t)addr, 0, 0); }
int yield(void) { return syscall3(SYS_YIELD, 0, 0, 0); }
int getpid(void) { return syscall3(SYS_GETPID, 0, 0, 0); }
int spawn(const char *name, const char *args) {
  return syscall3(SYS_SPAWN, (uint32_t)name, (uint32_t)args, 0);
}
int wait(int pid) { return syscall3(SYS_WAIT, (uint32_t)pid, 0, 0); }
int kill(int pid) { return syscall3(SYS_KILL, (uint32_t)pid, 0, 0); }

void checkpoint(int n) { __asm__ volatile("" : : "r"(n) : "memory"); }

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

void *memset(void *dst, int c, size_t n) {
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

int atoi(const char *s) {
  int sign = 1, v = 0;
  if (*s == '-') sign = -1, s++;
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  return sign * v;
}

struct out {
  char *buf;
  size_t size, len;
};

static void put(struct out *o, char c) {
  if (o->len + 1 < o->size) o->buf[o->len] = c;
  o->len++;
}

static void put_uint(struct out *o, uint32_t v, unsigned base) {
  char tmp[12];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  while (n) put(o, tmp[--n]);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  struct out o = {.buf = buf, .size = size, .len = 0};
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      put(&o, *fmt);
      continue;
    }
    switch (*++fmt) {
    case 'd': {
      int v = va_arg(ap, int);
      if (v < 0) put(&o, '-'), v = -v;
      put_uint(&o, (uint32_t)v, 10);
      break;
    }
    case 'u': put_uint(&o, va_arg(ap, uint32_t), 10); break;
    case 'x': put_uint(&o, va_arg(ap, uint32_t), 16); break;
    case 'p': put(&o, '0'), put(&o, 'x'), put_uint(&o, va_arg(ap, uint32_t), 16); break;
    case 's':
      for (const char *s = va_arg(ap, const char *); *s; s++) put(&o, *s);
      break;
    case 'c': put(&o, (char)va_arg(ap, int)); break;
    default: put(&o, *fmt);
    }
  }
  if (size) buf[o.len < size ? o.len : size - 1] = '\0';
  return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

int printf(const char *fmt, ...) {
  char buf[192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return write(1, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

int fork(void) { return syscall3(SYS_FORK, 0, 0, 0); }
int exec(const char *name, const char *args) {
  return syscall3(SYS_EXEC, (uint32_t)name, (uint32_t)args, 0);
}
int waitpid(int pid, int *status) {
  return syscall3(SYS_WAITPID, (uint32_t)pid, (uint32_t)status, 0);
}
int read(int fd, void *buf, size_t len) {
  return syscall3(SYS_READ, (uint32_t)fd, (uint32_t)buf, len);
}
int syscall4(int number, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  int ret;
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(number), "b"(a), "c"(b), "d"(c), "S"(d)
                   : "memory");
  return ret;
}
void *mmap(void *addr, size_t len, int prot, int flags) {
  return (void *)syscall4(SYS_MMAP, (uint32_t)addr, len, (uint32_t)prot, (uint32_t)flags);
}
int munmap(void *addr, size_t len) { return syscall3(SYS_MUNMAP, (uint32_t)addr, len, 0); }
int mprotect(void *addr, size_t len, int prot) {
  return syscall3(SYS_MPROTECT, (uint32_t)addr, len, (uint32_t)prot);
}
int getrlimit(int resource) { return syscall3(SYS_GETRLIMIT, (uint32_t)resource, 0, 0); }
int setrlimit(int resource, unsigned value) {
  return syscall3(SYS_SETRLIMIT, (uint32_t)resource, value, 0);
}
int open(const char *path, int flags) {
  return syscall3(SYS_OPEN, (uint32_t)path, (uint32_t)flags, 0);
}
int close(int fd) { return syscall3(SYS_CLOSE, (uint32_t)fd, 0, 0); }
int pread(int fd, void *buf, size_t len, unsigned offset) {
  return syscall4(SYS_PREAD, (uint32_t)fd, (uint32_t)buf, len, offset);
}
int pwrite(int fd, const void *buf, size_t len, unsigned offset) {
  return syscall4(SYS_PWRITE, (uint32_t)fd, (uint32_t)buf, len, offset);
}
int fsync(int fd) { return syscall3(SYS_FSYNC, (uint32_t)fd, 0, 0); }
int sync(void) { return syscall3(SYS_SYNC, 0, 0, 0); }
int stat(const char *path, struct stat *st) {
  return syscall3(SYS_STAT, (uint32_t)path, (uint32_t)st, 0);
}
int fstat(int fd, struct stat *st) { return syscall3(SYS_FSTAT, (uint32_t)fd, (uint32_t)st, 0); }
int lseek(int fd, int offset, int whence) {
  return syscall3(SYS_LSEEK, (uint32_t)fd, (uint32_t)offset, (uint32_t)whence);
}
int pageout(void *addr, size_t len) { return syscall3(SYS_PAGEOUT, (uint32_t)addr, len, 0); }

/* mmap of a file: the descriptor in EDI and the offset in EBP, which the
 * compiler keeps as the frame pointer here, so it is saved around the call. */
void *mmap_file(void *addr, size_t len, int prot, int flags, int fd, uint32_t offset) {
  int ret;
  uint32_t regs[2] = {(uint32_t)fd, offset}, *edi = regs;
  __asm__ volatile("push %%ebp\n\t"
                   "movl 4(%%edi), %%ebp\n\t"
                   "movl (%%edi), %%edi\n\t"
                   "int $0x80\n\t"
                   "pop %%ebp"
                   : "=a"(ret), "+D"(edi)
                   : "a"(SYS_MMAP), "b"(addr), "c"(len), "d"(prot), "S"(flags)
                   : "memory");
  return (void *)ret;
}
int set_mempolicy(int mode, unsigned nodes) {
  return syscall3(SYS_SET_MEMPOLICY, (uint32_t)mode, nodes, 0);
}
