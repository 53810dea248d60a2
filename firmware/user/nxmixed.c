/* Calls a function that lives in a page its ELF maps twice: as the last page
 * of the read-only, executable text segment and as the first page of the
 * writable data segment (see nxmixed.ld).  A page that is writable may not be
 * executable, so with NX the call is a fetch fault (kill, exec-nx); without
 * NX the function returns 42, the exit status. */
#include "ulib.h"

__attribute__((section(".mixed"), noinline)) int mixed_page_function(void) { return 42; }

int shared_page_data = 7; /* .data: the same page */

int main(void) {
  checkpoint(1);
  return mixed_page_function() + shared_page_data - 7;
}
