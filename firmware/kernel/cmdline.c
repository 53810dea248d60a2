#include "kernel/cmdline.h"
#include "kernel/bootinfo.h"
#include "kernel/kprintf.h"
#include "lib/string.h"

static char buffer[BOOT_CMDLINE_MAX];
static struct {
  const char *key, *value;
  bool asked; /* some cmdline_get() looked this key up */
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
    if (eq) *eq = '\0';
    options[option_count].key = word;
    options[option_count].value = eq ? eq + 1 : "";
    options[option_count].asked = false;
    option_count++;
  }
}

const char *cmdline_get(const char *key) {
  const char *value = NULL; /* the last occurrence wins; every one is known */
  for (uint32_t i = 0; i < option_count; i++) {
    if (strcmp(options[i].key, key) != 0) continue;
    options[i].asked = true;
    value = options[i].value;
  }
  return value;
}

void cmdline_report_bad(const char *key, const char *value, const char *expected) {
  krecord("CMDLINE bad=%s value=%pq expected=%s\n", key, value, expected);
}

void cmdline_report_unknown(void) {
  for (uint32_t i = 0; i < option_count; i++)
    if (!options[i].asked) krecord("CMDLINE unknown=%pq\n", options[i].key);
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

bool cmdline_number(const char *key, uint32_t *out) {
  const char *s = cmdline_get(key);
  if (!s) return false;
  if (parse_uint(s, out)) return true;
  cmdline_report_bad(key, s, "number");
  return false;
}

uint32_t cmdline_uint(const char *key, uint32_t dflt) {
  uint32_t v;
  return cmdline_number(key, &v) ? v : dflt;
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
  cmdline_report_bad(key, s, "on|off");
  return dflt;
}

uint32_t cmdline_choice(const char *key, const char *const *choices, uint32_t count,
                        uint32_t dflt) {
  const char *s = cmdline_get(key);
  if (!s) return dflt;
  for (uint32_t i = 0; i < count; i++)
    if (strcmp(s, choices[i]) == 0) return i;
  char expected[64]; /* "a|b|c" */
  size_t len = 0;
  for (uint32_t i = 0; i < count && len < sizeof(expected); i++)
    len += (size_t)ksnprintf(expected + len, sizeof(expected) - len, i ? "|%s" : "%s",
                             choices[i]);
  cmdline_report_bad(key, s, expected);
  return dflt;
}
