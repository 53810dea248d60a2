#include "kernel/modules.h"
#include "kernel/bootinfo.h"
#include "kernel/kprintf.h"
#include "lib/string.h"
#include "memlayout.h"

/* "/path/to/nullwrite.elf some args" -> "nullwrite" (as base, len), args "some args". */
static const char *base_name(const char *cmdline, size_t *len, const char **args) {
  const char *end = strchr(cmdline, ' ');
  size_t n = end ? (size_t)(end - cmdline) : strlen(cmdline);
  const char *base = cmdline;
  for (size_t i = 0; i < n; i++)
    if (cmdline[i] == '/') base = cmdline + i + 1;
  n -= (size_t)(base - cmdline);
  if (n > 4 && strncmp(base + n - 4, ".elf", 4) == 0) n -= 4;
  *len = n;
  *args = end ? end + 1 : "";
  return base;
}

static bool same_name(uint32_t i, const char *name, size_t len) {
  const char *args;
  size_t n;
  const char *base = base_name(boot_info.modules[i].cmdline, &n, &args);
  return n == len && strncmp(base, name, len) == 0;
}

/* Why module i cannot be run, or NULL; *m is filled either way.  (A later
 * module of a name already taken is refused by modules_init's report and is
 * never found: module_find takes the first of a name.) */
static const char *inspect(uint32_t i, struct module *m) {
  const struct boot_module *b = &boot_info.modules[i];
  size_t len;
  const char *base = base_name(b->cmdline, &len, &m->args);
  memcpy(m->name, base, MIN(len, sizeof(m->name) - 1));
  m->name[MIN(len, sizeof(m->name) - 1)] = '\0';
  m->image = P2V(b->start);
  m->size = b->end - b->start;
  if (b->end > DIRECT_MAP_LIMIT || b->end < b->start) return "outside-direct-map";
  if (len == 0) return "no-name";
  if (len >= MODULE_NAME_MAX) return "name-too-long";
  return NULL;
}

void modules_init(void) {
  struct module m;
  for (uint32_t i = 0; i < boot_info.module_count; i++) {
    const struct boot_module *b = &boot_info.modules[i];
    const char *why = inspect(i, &m);
    for (uint32_t j = 0; j < i && !why; j++)
      if (same_name(j, m.name, strlen(m.name))) why = "duplicate-name";
    if (why) krecord("MODULE skipped=%pq reason=%s\n", b->cmdline, why);
    else krecord("MODULE name=%pq size=%u addr=%p\n", m.name, m.size, (void *)b->start);
  }
}

bool module_find(const char *name, struct module *out) {
  size_t len = strlen(name);
  for (uint32_t i = 0; i < boot_info.module_count; i++)
    if (same_name(i, name, len)) return inspect(i, out) == NULL;
  return false;
}
