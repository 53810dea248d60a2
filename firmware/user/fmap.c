/* Maps a file and touches it: fmap PATH MODE [PAGES [fork]]
 *   shared   MAP_SHARED, PROT_READ: reads a byte of every page
 *   private  MAP_PRIVATE, PROT_READ|PROT_WRITE: reads every page, then at
 *            checkpoint(2) writes "X" over the first byte of page 0
 *   past     MAP_PRIVATE, PROT_READ, PAGES pages (more than the file has):
 *            reads a byte of each, and is killed (file-io) past the last
 *   sharedw  MAP_SHARED, PROT_READ|PROT_WRITE: refused, the error printed
 *   offset   MAP_PRIVATE, PROT_READ, from the file's third page (offset 8192)
 *   split    MAP_PRIVATE, PROT_READ, untouched; munmap of page 0 and
 *            mprotect of page 3 to read-write split it in three regions,
 *            then pages 1.. are read
 *   twice    MAP_PRIVATE, PROT_READ, and the file's page 0 mapped again
 *            (MAP_FIXED) right after the first mapping's page 0: two pages
 * PAGES defaults to the file's size in pages.  With "fork" it forks once
 * the pages were read: the child stops at checkpoint(3) and exits, the
 * parent waits for it.  It stops at checkpoint(1)
 * once every page was read (the mapping's address printed before that), so
 * a test can compare the page tables with the page cache, then yields once
 * (another fmap gets to its checkpoint with this one's mapping still there),
 * and reports an FNV-1a hash of the bytes it read. */
#include "kernel/fcntl.h"
#include "ulib.h"

static int is(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *path = argv[1], *mode = argv[2];
  int fd = open(path, O_RDONLY);
  struct stat st = {0};
  if (fd < 0 || fstat(fd, &st) < 0) return 3;
  uint32_t pages = argc > 3 ? (uint32_t)atoi(argv[3]) : (st.st_size + 4095) / 4096;
  int prot = PROT_READ, flags = MAP_PRIVATE;
  if (is(mode, "shared")) flags = MAP_SHARED;
  if (is(mode, "private")) prot |= PROT_WRITE;
  if (is(mode, "sharedw")) flags = MAP_SHARED, prot |= PROT_WRITE;
  /* offset: the file from its third page on */
  uint32_t skip = is(mode, "offset") ? 2 : 0;
  if (is(mode, "twice")) pages = 1;
  volatile uint8_t *map = mmap_file(0, (pages - skip) * 4096, prot, flags, fd, skip * 4096);
  if (IS_ERR(map)) {
    printf("USER prog=fmap mode=%s mmap=%d\n", mode, (int)map);
    return 0;
  }
  if (is(mode, "split")) { /* drop page 0, make page 3 writable: three regions */
    munmap((void *)map, 4096);
    mprotect((void *)(map + 3 * 4096), 4096, PROT_READ | PROT_WRITE);
    map += 4096;
    skip = 1;
  }
  pages -= skip;
  if (is(mode, "twice")) { /* page 0 of the file again, right after the first page */
    if (mmap_file((void *)(map + 4096), 4096, prot, flags | MAP_FIXED, fd, 0) != map + 4096)
      return 4;
    pages = 2;
  }
  printf("USER prog=fmap pid=%d mode=%s addr=%p pages=%u\n", getpid(), mode, (void *)map, pages);
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < pages * 4096; i++) h = (h ^ map[i]) * 16777619u;
  if (argc > 4 && is(argv[4], "fork")) { /* the child stops with the mapping inherited */
    int child = fork();
    if (child == 0) {
      checkpoint(3);
      exit(0);
    }
    waitpid(child, 0);
  }
  checkpoint(1);
  yield(); /* a second fmap runs to its checkpoint(1) while this mapping stays */
  if (is(mode, "private")) {
    map[0] = 'X';
    checkpoint(2);
  }
  printf("USER prog=fmap mode=%s fnv=%x first=%c close=%d\n", mode, h, map[0], close(fd));
  return 0;
}
