/* Reads each file named in its arguments twice through open/read and reports
 * what it found: the sizes stat and fstat give, the bytes each read pass got
 * with an FNV-1a hash of them, and what a write and an O_RDWR open got (the
 * file system is read-only).  It stops at checkpoint(1) after each file's
 * first pass and at checkpoint(2) after its second, so a test can look at the
 * page cache and the disk's counters in between. */
#include "kernel/fcntl.h"
#include "ulib.h"

static uint8_t buf[4096] __attribute__((aligned(4096)));

/* Reads fd to its end, 4 KiB a call: the bytes read (or the first error). */
static int hash_rest(int fd, uint32_t *hash) {
  uint32_t h = 2166136261u;
  int total = 0;
  for (;;) {
    int n = read(fd, buf, sizeof(buf));
    if (n < 0) return n;
    if (n == 0) break;
    for (int i = 0; i < n; i++) h = (h ^ buf[i]) * 16777619u;
    total += n;
  }
  *hash = h;
  return total;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *path = argv[i];
    struct stat st = {0}, fst = {0};
    int rs = stat(path, &st);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
      printf("USER prog=catfile path=%s stat=%d open=%d\n", path, rs, fd);
      continue;
    }
    int rf = fstat(fd, &fst);
    uint32_t h1 = 0, h2 = 0;
    int n1 = hash_rest(fd, &h1);
    checkpoint(1);
    int back = lseek(fd, 0, SEEK_SET);
    int n2 = hash_rest(fd, &h2);
    checkpoint(2);
    int w = write(fd, buf, 1);
    int rw = open(path, O_RDWR);
    int c = close(fd);
    /* two lines: printf's buffer holds 191 characters */
    printf("USER prog=catfile path=%s stat=%d size=%u mode=%x ino=%u blocks=%u fstat=%d "
           "fstat_size=%u\n",
           path, rs, st.st_size, st.st_mode, st.st_ino, st.st_blocks, rf, fst.st_size);
    printf("USER prog=catfile path=%s read=%d fnv=%x lseek=%d reread=%d refnv=%x write=%d "
           "open_rdwr=%d close=%d\n",
           path, n1, h1, back, n2, h2, w, rw, c);
  }
  return 0;
}
