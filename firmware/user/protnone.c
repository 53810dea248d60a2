/* protnone: mprotect(PROT_NONE) keeps a private page's frame (mm/mmap.h).
 * Every mode starts the same: two private pages, the first written (0x5A5A...
 * all over, its last word 0xC0FFEE00), the second never touched, both
 * PROT_NONE; then checkpoint(1), where the harness inspects them.  MODE
 * (argument):
 *   read, write, fetch  touch the first page that way (the kernel must kill)
 *   syscall             hand it to write(1, ...): `result` gets the answer,
 *                       checkpoint(2); munmap it as it is: checkpoint(3)
 *   back                mprotect back to read/write: checkpoint(2); munmap it:
 *                       checkpoint(3); make the pages PROT_NONE again and exit
 *                       with them (exit must free them)
 *   fork                fork; the child: checkpoint(2), mprotect back and
 *                       write (a copy), checkpoint(3), exit; the parent waits,
 *                       then mprotect back (its frame alone now): checkpoint(4)
 * The harness judges from guest RAM and the page tables, not from `result`
 * alone or anything printed. */
#include "ulib.h"

#define PAGE 4096

volatile uint32_t *page; /* the two pages */
volatile int32_t result = 1;

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  page = mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (IS_ERR(page)) return 100;
  for (uint32_t i = 0; i < PAGE / 4; i++) page[i] = 0x5A5A5A5Au;
  page[PAGE / 4 - 1] = 0xC0FFEE00u;
  if (mprotect((void *)page, 2 * PAGE, PROT_NONE) != 0) return 101;
  checkpoint(1);

  if (same(mode, "read")) return (int)page[0];
  if (same(mode, "write")) {
    page[0] = 1;
    return 102;
  }
  if (same(mode, "fetch")) {
    ((void (*)(void))page)();
    return 103;
  }
  if (same(mode, "syscall")) {
    result = write(1, (const void *)page, 16);
    checkpoint(2);
    result = munmap((void *)page, 2 * PAGE); /* while still PROT_NONE */
    checkpoint(3);
    return 0;
  }
  if (same(mode, "back")) {
    result = mprotect((void *)page, 2 * PAGE, PROT_READ | PROT_WRITE);
    checkpoint(2);
    result = munmap((void *)page, 2 * PAGE);
    checkpoint(3);
    page = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (IS_ERR(page)) return 104;
    page[0] = 7;
    return mprotect((void *)page, PAGE, PROT_NONE) == 0 ? 0 : 105;
  }
  if (same(mode, "fork")) {
    int child = fork();
    if (child < 0) return 106;
    if (child == 0) {
      checkpoint(2);
      if (mprotect((void *)page, 2 * PAGE, PROT_READ | PROT_WRITE) != 0) return 107;
      page[0] = 0x0C0C0C0Cu; /* copies: the parent still holds the frame */
      checkpoint(3);
      return page[PAGE / 4 - 1] == 0xC0FFEE00u ? 0 : 108;
    }
    int status = -1;
    if (waitpid(child, &status) != child) return 109;
    result = mprotect((void *)page, 2 * PAGE, PROT_READ | PROT_WRITE);
    checkpoint(4);
    return status;
  }
  return 110;
}
