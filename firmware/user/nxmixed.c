/* A function in a page its ELF names twice: as the last page of the
 * read-only, executable text segment and as the first page of the writable
 * data segment (see nxmixed.ld).  No page may be both writable and
 * executable, so the kernel refuses to load it; if it ever ran, it would
 * exit with 42. */
#include "ulib.h"

__attribute__((section(".mixed"), noinline)) int mixed_page_function(void) { return 42; }

int shared_page_data = 7; /* .data: the same page */

int main(void) {
  checkpoint(1);
  return mixed_page_function() + shared_page_data - 7;
}
