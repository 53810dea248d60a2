#include "kernel/cmdline.h"
#include "kernel/bootinfo.h"
#include "kernel/kprintf.h"
#include "lib/string.h"

static char buffer[BOOT_CMDLINE_MAX];
static struct {
  const char *key, *value;
} options[CMDLINE_MAX_OPTIONS];
static uint32_t option_count;

static bool is_space(char c) { return c == ' ' || c == '\t'; }

/* QEMU -kernel puts the kernel's file name first; GRUB does not. */
static bool looks_like_path(const char *word) {
  size_t len = strlen(word);
  return strchr(word, '/') || (len > 4 && strcmp(word + len - 4, ".elf") == 0);
}

void cmdline_init(const char *raw) {
  strlcpy(buffer, raw, sizeof(buffer));
  option_count = 0;
  char *p = buffer;
  bool first = true;
  while (*p) {
    while (is_space(*p)) *p++ = '\0';
    if (!*p) break;
    char *word = p;
    while (*p && !is_space(*p)) p++;
    if (*p) *p++ = '\0';
    char *eq = strchr(word, '=');
    if (first && !eq && looks_like_path(word)) { /* the image path (QEMU -kernel) */
      first = false;
      continue;
    }
    first = false;
    if (option_count == CMDLINE_MAX_OPTIONS) {
      krecord("CMDLINE truncated max=%u\n", CMDLINE_MAX_OPTIONS);
      return;
    }
    if (eq) *eq = '\0';
    options[option_count].key = word;
    options[option_count].value = eq ? eq + 1 : "";
    option_count++;
  }
}

const char *cmdline_get(const char *key) {
  for (uint32_t i = option_count; i-- > 0;)
    if (strcmp(options[i].key, key) == 0) return options[i].value;
  return NULL;
}

bool parse_uint(const char *s, uint32_t *out) {
  uint32_t base = 10, v = 0;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, s += 2;
  if (!*s) return false;
  for (; *s; s++) {
    uint32_t d;
    if (*s >= '0' && *s <= '9') d = (uint32_t)(*s - '0');
    else if (base == 16 && *s >= 'a' && *s <= 'f') d = (uint32_t)(*s - 'a' + 10);
    else if (base == 16 && *s >= 'A' && *s <= 'F') d = (uint32_t)(*s - 'A' + 10);
    else return false;
    if (v > (UINT32_MAX - d) / base) return false; /* overflow */
    v = v * base + d;
  }
  *out = v;
  return true;
}

uint32_t cmdline_uint(const char *key, uint32_t dflt) {
  const char *s = cmdline_get(key);
  uint32_t v;
  if (!s) return dflt;
  if (parse_uint(s, &v)) return v;
  krecord("CMDLINE bad=%s value=%pq expected=number\n", key, s);
  return dflt;
}

bool cmdline_bool(const char *key, bool dflt) {
  static const char *const yes[] = {"", "on", "yes", "true", "1"};
  static const char *const no[] = {"off", "no", "false", "0"};
  const char *s = cmdline_get(key);
  if (!s) return dflt;
  for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
    if (strcmp(s, yes[i]) == 0) return true;
  for (size_t i = 0; i < ARRAY_SIZE(no); i++)
    if (strcmp(s, no[i]) == 0) return false;
  krecord("CMDLINE bad=%s value=%pq expected=on|off\n", key, s);
  return dflt;
}
