/* The kernel command line: `key=value` options and bare `flag` words.
 *
 * QEMU -kernel puts the kernel image's file name first (GRUB does not): a
 * first word with a '/' or ending in ".elf" is taken to be that and skipped.
 * Later occurrences of a key override earlier ones. */
#pragma once

#include "types.h"

#define CMDLINE_MAX_OPTIONS 32

void cmdline_init(const char *raw);
/* The value of `key`, "" for a bare flag, NULL when absent. */
const char *cmdline_get(const char *key);
/* Numeric option (decimal or 0x-hex).  Absent: dflt.  Malformed: reports a
 * `CMDLINE bad=<key>` record and returns dflt. */
uint32_t cmdline_uint(const char *key, uint32_t dflt);
/* Boolean option: on/off, yes/no, true/false, 1/0; a bare flag is true.
 * Absent: dflt.  Malformed: reported as above, dflt. */
bool cmdline_bool(const char *key, bool dflt);
/* Parses a whole string as a number (decimal or 0x-hex); false if malformed. */
bool parse_uint(const char *s, uint32_t *out);
