/* COM1, a 16550 UART, polled: the kernel's console and its record channel. */
#pragma once

#include "types.h"

void serial_init(void);
void serial_putc(char c);            /* "\n" is sent as "\r\n" */
void serial_write(const char *s, size_t n);
/* Returns the next received byte, or -1 when none is waiting. */
int serial_getc_nonblock(void);
