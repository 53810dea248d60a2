/* Two 16550 UARTs, polled.
 *
 * COM1 is the console: kernel text, user programs' output, the debug shell,
 * and a copy of every record for people.  COM2 is the record channel: only
 * the kernel writes it (ring 3 has no I/O privilege), so a record read there
 * cannot have been forged or split by a user program.  A machine without
 * COM2 (found by the scratch-register test) loses only that channel. */
#pragma once

#include "types.h"

void serial_init(void);
void serial_putc(char c);            /* COM1; "\n" is sent as "\r\n" */
void serial_write(const char *s, size_t n);
/* Ends the console's current line if something (user output without a
 * newline) left it open, so a record starts a line for people too. */
void serial_line_start(void);
/* Returns the next byte received on COM1, or -1 when none is waiting. */
int serial_getc_nonblock(void);

/* Whether COM2 answered at boot. */
bool serial_record_channel(void);
/* One byte on COM2 (nothing without it); "\n" is sent as is. */
void serial_record_putc(char c);
/* Waits until COM2 has sent every byte: a record is out of the UART (under
 * QEMU, in the socket) before the kernel goes on, so a debugger that stops
 * the CPU right after it finds the whole record there. */
void serial_record_flush(void);
