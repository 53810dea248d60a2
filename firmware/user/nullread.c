/* Reads through a null pointer: killed, reason null-pointer. */
#include "ulib.h"

int main(void) { return *(volatile int *)0; }
