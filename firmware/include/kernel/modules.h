/* The multiboot modules: the user programs the kernel can run, by name.
 *
 * A module's name is its file name without directories and ".elf"
 * ("/any/path/nullwrite.elf args" is "nullwrite"), so how long the loader's
 * path is never matters.  As many modules as the loader passes are kept; one
 * the kernel cannot run is reported with a `MODULE skipped=... reason=...`
 * record (a name of MODULE_NAME_MAX bytes or more, a name already taken,
 * contents outside the direct map), never renamed or truncated. */
#pragma once

#include "kernel/proc.h"
#include "types.h"

#define MODULE_NAME_MAX PROC_NAME_MAX /* a module's name is its processes' name */

struct module {
  char name[MODULE_NAME_MAX]; /* the file name without directory and ".elf" */
  const uint8_t *image;       /* kernel pointer to the contents (direct map) */
  uint32_t size;
  const char *args;           /* the rest of the module's command line */
};

/* Reports every module: a MODULE record each, or why it is skipped. */
void modules_init(void);
/* The module called `name` into *out (the first of that name that is not
 * skipped); false if there is none.  No table of its own: the boot arena's
 * copy of the loader's list is the one list of modules. */
bool module_find(const char *name, struct module *out);
