/* Formatted output to COM1.
 *
 * Supported conversions: %c %s %d %i %u %x %X %p %%, with an optional '-'
 * (left-justify, for aligned tables) or '0' flag, a field width, and an 'l'
 * length modifier that is accepted and ignored (long is 32 bits here).  %p prints 0x followed by 8 hex digits.
 *
 * Every structured record the harness parses is one line written with a
 * single kprintf call: a TAG, then key=value pairs (see README "Serial
 * records"). */
#pragma once

#include <stdarg.h>
#include "types.h"

void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);
/* Formats into buf (always terminated when size > 0); returns the length the
 * full output would have had. */
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
