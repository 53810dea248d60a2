/* The serial debug shell: a command line on COM1 for looking at the memory
 * manager while the kernel runs (`shell` on the kernel command line).
 *
 * Polled, interrupts off, no heap of its own: it reads lines with
 * serial_getc_nonblock(), echoes them, and answers with readable tables plus,
 * where a test wants to compare numbers, one record in the usual
 * `TAG key=value` form (MEMINFO, MAP, HEAPSTAT, FAULTS, PS, MARK).  Human
 * lines never start with an upper-case word, so they never parse as records.
 * While `run` runs processes, the timer reads COM1 instead, so Ctrl-C
 * can stop them.  The commands are listed by `help` and in the README. */
#pragma once

/* Prints the prompt `mm> `, reads a line, runs it; forever. */
void shell_run(void) __attribute__((noreturn));

#include "types.h"
/* read(0, ...) for processes: up to max bytes of what arrived on COM1, taken
 * through the same path as the run's Ctrl-C watch (so a Ctrl-C among them
 * still stops a run, and nothing typed is read twice); 0 when none. */
uint32_t shell_read_input(char *buf, uint32_t max);
