/* Writes a line without its newline, then exits with status 7: the kernel's
 * EXIT record that follows must still be seen whole. */
#include "ulib.h"

int main(void) {
  static const char text[] = "USER prog=nonewline the line goes on";
  write(1, text, sizeof(text) - 1);
  return 7;
}
