#include "kernel/modules.h"
#include "kernel/bootinfo.h"
#include "kernel/kprintf.h"
#include "lib/string.h"
#include "memlayout.h"

static struct module modules[BOOT_MAX_MODULES];
static uint32_t count;

/* "/path/to/nullderef.elf some args" -> name "nullderef", args "some args". */
static void split_name(struct module *m, const char *cmdline) {
  const char *end = strchr(cmdline, ' ');
  size_t len = end ? (size_t)(end - cmdline) : strlen(cmdline);
  const char *base = cmdline;
  for (size_t i = 0; i < len; i++)
    if (cmdline[i] == '/') base = cmdline + i + 1;
  len -= (size_t)(base - cmdline);
  if (len > 4 && strncmp(base + len - 4, ".elf", 4) == 0) len -= 4;
  len = MIN(len, (size_t)MODULE_NAME_MAX - 1);
  memcpy(m->name, base, len);
  m->name[len] = '\0';
  m->args = end ? end + 1 : "";
}

void modules_init(void) {
  for (uint32_t i = 0; i < boot_info.module_count; i++) {
    const struct boot_module *b = &boot_info.modules[i];
    if (b->end > DIRECT_MAP_LIMIT || b->end < b->start) {
      krecord("MODULE skipped=%pq reason=outside-direct-map\n", b->name);
      continue;
    }
    struct module *m = &modules[count++];
    split_name(m, b->name);
    m->image = P2V(b->start);
    m->size = b->end - b->start;
    krecord("MODULE name=%pq size=%u addr=%p\n", m->name, m->size, (void *)b->start);
  }
}

const struct module *module_find(const char *name) {
  for (uint32_t i = 0; i < count; i++)
    if (strcmp(modules[i].name, name) == 0) return &modules[i];
  return NULL;
}

uint32_t module_count(void) { return count; }
const struct module *module_at(uint32_t i) { return i < count ? &modules[i] : NULL; }
