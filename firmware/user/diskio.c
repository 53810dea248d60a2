/* Raw-disk I/O for the disk tests: `diskio DEVICE MODE OP...` opens DEVICE
 * ("/dev/hda") with MODE (ro, wo, rw) and runs each OP in order:
 *   w:OFF:LEN:SEED  pwrite LEN bytes of the pattern SEED at byte OFF
 *   r:OFF:LEN:SEED  pread them back and count the bytes that differ
 *   W:LEN:SEED      write() at the descriptor's offset (then advanced)
 *   p:OFF:LEN:SEED  pwrite from a buffer whose first LEN/2 bytes (the
 *                   pattern) end the mapped memory and the rest is unmapped:
 *                   the kernel's copy faults part-way
 *   l:OFF:WHENCE    lseek
 *   f  fsync   s  sync   c  close   y:N  yield N times
 *   o:N  open DEVICE N more times (rc: the last result)   C:FD  close(FD)
 * One `USER prog=diskio op=<op> rc=<result> bad=<differing bytes>` line per
 * op; the exit status is the number of reads that found a difference.  The
 * pattern is a function of the byte's disk offset and the seed
 * (tests/disk/diskio.py has the same one), so a block written at one offset
 * and read at another would not match. */
#include "ulib.h"

#define CHUNK 8192
static unsigned char buf[CHUNK];

static unsigned char pattern_byte(unsigned pos, unsigned seed) {
  return (unsigned char)(pos * 131u + seed * 7u + (pos >> 8));
}

/* Parses "N" or "N:M..." fields after the op letter. */
static int fields(const char *s, unsigned *out, int max) {
  int n = 0;
  while (*s == ':' && n < max) {
    out[n++] = (unsigned)atoi(++s);
    while (*s && *s != ':') s++;
  }
  return n;
}

static int rw(int fd, char op, unsigned off, unsigned len, unsigned seed, unsigned *bad) {
  int total = 0;
  while (len) {
    unsigned n = len < CHUNK ? len : CHUNK;
    int rc;
    if (op == 'r') {
      rc = pread(fd, buf, n, off);
      for (int i = 0; i < rc; i++) *bad += buf[i] != pattern_byte(off + i, seed);
    } else {
      for (unsigned i = 0; i < n; i++) buf[i] = pattern_byte(off + i, seed);
      rc = op == 'w' ? pwrite(fd, buf, n, off) : write(fd, buf, n);
    }
    if (rc < 0) return total ? total : rc;
    total += rc;
    if ((unsigned)rc < n) break;
    off += n;
    len -= n;
  }
  return total;
}

/* pwrite of len bytes (at most 16 KiB) whose second half is on an unmapped
 * page: two mapped pages, then the hole. */
static int faulting_write(int fd, unsigned off, unsigned len, unsigned seed) {
  unsigned char *pages = mmap(0, 12288, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (IS_ERR(pages)) return (int)pages;
  int rc = munmap(pages + 8192, 4096);
  if (rc) return rc;
  unsigned mapped = len / 2;
  unsigned char *start = pages + 8192 - mapped;
  for (unsigned i = 0; i < mapped; i++) start[i] = pattern_byte(off + i, seed);
  return pwrite(fd, start, len, off);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    printf("USER prog=diskio error=usage\n");
    return 100;
  }
  int mode = argv[2][0] == 'w' ? O_WRONLY : argv[2][1] == 'w' ? O_RDWR : O_RDONLY;
  int fd = open(argv[1], mode);
  printf("USER prog=diskio op=open rc=%d\n", fd);
  int failed = 0;
  unsigned offset = 0; /* where W writes: mirrors the descriptor's offset */
  for (int i = 3; i < argc; i++) {
    unsigned v[3] = {0, 0, 0}, bad = 0;
    char op = argv[i][0];
    fields(argv[i] + 1, v, 3);
    int rc;
    switch (op) {
    case 'w': case 'r': rc = rw(fd, op, v[0], v[1], v[2], &bad); break;
    case 'p': rc = faulting_write(fd, v[0], v[1], v[2]); break;
    case 'W': rc = rw(fd, op, offset, v[0], v[1], &bad); if (rc > 0) offset += rc; break;
    case 'l': rc = lseek(fd, (int)v[0], (int)v[1]); if (rc >= 0) offset = rc; break;
    case 'f': rc = fsync(fd); break;
    case 's': rc = sync(); break;
    case 'c': rc = close(fd); break;
    case 'y': for (unsigned n = 0; n < v[0]; n++) yield(); rc = 0; break;
    case 'o': rc = 0; for (unsigned n = 0; n < v[0]; n++) rc = open(argv[1], mode); break;
    case 'C': rc = close((int)v[0]); break;
    default: rc = -1000;
    }
    failed += bad != 0;
    printf("USER prog=diskio op=%c rc=%d bad=%u\n", op, rc, bad);
  }
  return failed;
}
