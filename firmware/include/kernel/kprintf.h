/* Formatted output: kprintf to the console (COM1), krecord for records.
 *
 * Supported conversions: %c %s %d %i %u %x %X %p %%, with an optional '-'
 * (left-justify, for aligned tables) or '0' flag, a field width, and an 'l'
 * length modifier that is accepted and ignored (long is 32 bits here).  %p prints 0x followed by 8 hex digits.
 * %pq prints a NUL-terminated string as a record value: in double quotes,
 * with '"' and '\' preceded by '\' and every byte below 0x20 or above 0x7E
 * written \xHH; %*pq takes a length first and prints that many bytes (NULs
 * included).  A value printed so can neither end its record nor start
 * another, whatever bytes it holds.
 *
 * Every structured record the harness parses is one line written with a
 * single krecord call: a TAG, then key=value pairs (see README "Serial
 * records"), every value that is not the kernel's own number or word printed
 * with %pq.  krecord writes it to the record channel (COM2) and, for people,
 * to the console on a line of its own. */
#pragma once

#include <stdarg.h>
#include "types.h"

void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);
void krecord(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A record on the record channel only (OUT: the console has the bytes). */
void krecord_quiet(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats into buf (always terminated when size > 0); returns the length the
 * full output would have had. */
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
