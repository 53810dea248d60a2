/* Tries to run code from memory that holds data: `nxexec WHERE`, WHERE one of
 * stack, heap, data, bss, shm.  It copies a six-byte function (mov $42, %eax;
 * ret) there, stops at checkpoint(1) with the copy in place (the harness
 * inspects the page), then calls it.  With NX the call is a fetch fault and
 * the kernel kills the process (reason exec-nx); without NX it returns 42,
 * which is the program's exit status. */
#include "ulib.h"

static const unsigned char ret42[] = {0xB8, 0x2A, 0x00, 0x00, 0x00, 0xC3};

/* Where "data" and "bss" put the code; the harness finds them by symbol. */
unsigned char code_data[64] = {1};
unsigned char code_bss[64];

static void copy(unsigned char *to) {
  for (unsigned i = 0; i < sizeof(ret42); i++) to[i] = ret42[i];
}

static unsigned char *target(const char *where, unsigned char *on_stack) {
  if (where[0] == 's' && where[1] == 't') return on_stack;
  if (where[0] == 'h') return sbrk(4096);
  if (where[0] == 'd') return code_data;
  if (where[0] == 'b') return code_bss;
  if (where[0] == 's' && where[1] == 'h') return shm_attach(shm_create(1));
  return 0;
}

int main(int argc, char **argv) {
  unsigned char on_stack[64];
  unsigned char *code = target(argc > 1 ? argv[1] : "", on_stack);
  if (!code || IS_ERR(code)) return 100; /* a bad argument, or no memory */
  copy(code);
  checkpoint(1);
  int result = ((int (*)(void))(uintptr_t)code)();
  return result;
}
