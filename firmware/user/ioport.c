/* Writes a byte to COM2, the kernel's record channel: ring 3 runs with IOPL 0
 * and no I/O permission bitmap, so the out instruction is a #GP that kills
 * the program (at record_port_write) before any byte reaches the port. */
#include "ulib.h"

int main(void) {
  __asm__ volatile(".globl record_port_write\n"
                   "record_port_write: outb %%al, %%dx" : : "a"('E'), "d"(0x2F8));
  return 0;
}
