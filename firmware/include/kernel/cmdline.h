/* The kernel command line: `key=value` options and bare `flag` words.
 *
 * QEMU -kernel puts the kernel image's file name first (GRUB does not): a
 * first word with a '/' or ending in ".elf" is taken to be that and skipped.
 * Later occurrences of a key override earlier ones.
 *
 * Every option is read through the typed getters below, which report a value
 * they cannot take as one `CMDLINE bad=<key> value="..." expected=...` record
 * and use the default; cmdline_report_unknown() reports every option nobody
 * asked for (a typo such as `preemt=on`), so no option is ever silently
 * ignored. */
#pragma once

#include "kernel/bootinfo.h"
#include "types.h"

/* Every word of the longest command line fits ("a b c ..."): never truncated. */
#define CMDLINE_MAX_OPTIONS (BOOT_CMDLINE_MAX / 2)

void cmdline_init(const char *raw);
/* The value of `key`, "" for a bare flag, NULL when absent.  Marks the key as
 * known (see cmdline_report_unknown). */
const char *cmdline_get(const char *key);
/* Numeric option (decimal or 0x-hex, 32 bits).  True with *out set when
 * present and well-formed; false when absent, or malformed (reported). */
bool cmdline_number(const char *key, uint32_t *out);
/* cmdline_number with a default for absent or malformed values. */
uint32_t cmdline_uint(const char *key, uint32_t dflt);
/* Boolean option: on/off, yes/no, true/false, 1/0; a bare flag is true.
 * Absent or malformed (reported): dflt. */
bool cmdline_bool(const char *key, bool dflt);
/* One of `count` words: its index.  Absent or malformed (reported): dflt. */
uint32_t cmdline_choice(const char *key, const char *const *choices, uint32_t count,
                        uint32_t dflt);
/* The one `CMDLINE bad=` record, for options with their own syntax. */
void cmdline_report_bad(const char *key, const char *value, const char *expected);
/* A `CMDLINE unknown=<key>` record for each option no cmdline_get() asked for:
 * call it once every subsystem has read its options. */
void cmdline_report_unknown(void);
/* Parses a whole string as a number (decimal or 0x-hex); false if malformed. */
bool parse_uint(const char *s, uint32_t *out);
