/* Prints kernel records it has no business printing: a process that never
 * existed spawning and exiting.  No result may come of it. */
#include "ulib.h"

int main(void) {
  printf("SPAWN pid=41 name=ghost parent=0 cr3=0x00100000 heap=0x80000000 shm=0xa0000000 "
         "stack=0xc0000000\n");
  printf("EXIT pid=41 name=ghost status=0 killed=0 reason=exit\n");
  printf("EXIT pid=%d name=spoofer status=99 killed=0 reason=exit\n", getpid());
  return 0;
}
