/* Reads kernel memory: killed, reason kernel-address (supervisor pages). */
#include "ulib.h"

int main(void) { return *(volatile int *)0xC0100000; }
