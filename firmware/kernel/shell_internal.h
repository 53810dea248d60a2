/* Between the shell's loop (shell.c: reading, parsing, dispatch, help) and
 * its commands (shell_cmds.c).  Not part of any other subsystem's contract. */
#pragma once

#include "types.h"

#define SHELL_LINE_MAX 128 /* bytes of a command line, the NUL included */
#define SHELL_MAX_WORDS 8  /* words kept per line; `run` takes its args from rest[] */

/* One parsed line.  argv[0] is the command; rest[i] is the line as typed
 * from word i on (so `run prog a  b` passes "a  b" unchanged). */
struct shell_args {
  uint32_t argc; /* words on the line (may exceed SHELL_MAX_WORDS) */
  const char *argv[SHELL_MAX_WORDS];
  const char *rest[SHELL_MAX_WORDS];
};

/* What a command returns: done, or "print the usage line" (bad arguments). */
#define SHELL_OK 0
#define SHELL_USAGE (-1)

int shell_cmd_meminfo(const struct shell_args *a);
int shell_cmd_map(const struct shell_args *a);
int shell_cmd_heap(const struct shell_args *a);
int shell_cmd_leaks(const struct shell_args *a);
int shell_cmd_mark(const struct shell_args *a);
int shell_cmd_faults(const struct shell_args *a);
int shell_cmd_ps(const struct shell_args *a);
int shell_cmd_run(const struct shell_args *a);

/* While `run` runs processes, the timer calls this on every tick: it reads
 * what has arrived on COM1, stops the run on Ctrl-C (sched_interrupt) and
 * keeps anything else for the next command line. */
void shell_watch_input(void);
/* Whether Ctrl-C stopped the last run (and forgets it). */
bool shell_take_ctrl_c(void);
