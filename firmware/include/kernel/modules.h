/* The multiboot modules: the user programs the kernel can run, by name. */
#pragma once

#include "types.h"

#define MODULE_NAME_MAX 32

struct module {
  char name[MODULE_NAME_MAX]; /* the file name without directory and ".elf" */
  const uint8_t *image;       /* kernel pointer to the contents (direct map) */
  uint32_t size;
  const char *args;           /* the rest of the module's command line */
};

void modules_init(void);
/* The module called `name`, or NULL. */
const struct module *module_find(const char *name);
uint32_t module_count(void);
const struct module *module_at(uint32_t i);
