#include "kernel/kprintf.h"
#include "kernel/serial.h"
#include "kernel/smp.h"
#include "lib/string.h"

/* Output goes through a sink so kprintf (the console), krecord (both
 * channels), krecord_quiet (the record channel) and ksnprintf (a buffer)
 * share one formatter. */
struct sink {
  void (*put)(struct sink *, char);
  char *buf;
  size_t size, len;
};

static void put_serial(struct sink *s, char c) {
  serial_putc(c);
  s->len++;
}

static void put_record(struct sink *s, char c) {
  serial_putc(c);
  serial_record_putc(c);
  s->len++;
}

static void put_record_only(struct sink *s, char c) {
  serial_record_putc(c);
  s->len++;
}

static void put_buffer(struct sink *s, char c) {
  if (s->len + 1 < s->size) s->buf[s->len] = c;
  s->len++;
}

/* %pq: a record's string value, quoted, every byte that could end or fake a
 * record escaped (the harness's records.py decodes exactly this). */
static void put_quoted(struct sink *s, const uint8_t *p, size_t len) {
  static const char hex[] = "0123456789abcdef";
  s->put(s, '"');
  for (size_t i = 0; i < len; i++) {
    uint8_t c = p[i];
    if (c == '"' || c == '\\') {
      s->put(s, '\\');
      s->put(s, (char)c);
    } else if (c < 0x20 || c >= 0x7F) {
      s->put(s, '\\');
      s->put(s, 'x');
      s->put(s, hex[c >> 4]);
      s->put(s, hex[c & 0xF]);
    } else {
      s->put(s, (char)c);
    }
  }
  s->put(s, '"');
}

/* pad is ' ' or '0'; a negative width pads on the right (the '-' flag). */
static void put_number(struct sink *s, uint32_t v, unsigned base, bool upper,
                       bool negative, int width, char pad) {
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char tmp[12];
  int n = 0;
  do {
    tmp[n++] = digits[v % base];
    v /= base;
  } while (v);
  int len = n + negative;
  if (negative && pad == '0') s->put(s, '-');
  for (; width > len; width--) s->put(s, pad);
  if (negative && pad != '0') s->put(s, '-');
  while (n) s->put(s, tmp[--n]);
  for (; -width > len; width++) s->put(s, ' ');
}

static void format(struct sink *s, const char *fmt, va_list ap) {
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      s->put(s, *fmt);
      continue;
    }
    fmt++;
    char pad = ' ';
    int width = 0;
    bool left = false, star = false;
    if (*fmt == '-') left = true, fmt++;
    if (*fmt == '0') pad = left ? ' ' : '0', fmt++;
    if (*fmt == '*') width = va_arg(ap, int), star = true, fmt++;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    if (left) width = -width;
    while (*fmt == 'l') fmt++;
    switch (*fmt) {
    case 'c':
      s->put(s, (char)va_arg(ap, int));
      break;
    case 's': {
      const char *str = va_arg(ap, const char *);
      if (!str) str = "(null)";
      int len = (int)strnlen(str, 4096);
      for (; width > len; width--) s->put(s, ' ');
      while (*str) s->put(s, *str++);
      for (; -width > len; width++) s->put(s, ' ');
      break;
    }
    case 'd':
    case 'i': {
      int32_t v = va_arg(ap, int32_t);
      put_number(s, v < 0 ? -(uint32_t)v : (uint32_t)v, 10, false, v < 0, width, pad);
      break;
    }
    case 'u':
      put_number(s, va_arg(ap, uint32_t), 10, false, false, width, pad);
      break;
    case 'x':
    case 'X':
      put_number(s, va_arg(ap, uint32_t), 16, *fmt == 'X', false, width, pad);
      break;
    case 'p':
      if (fmt[1] == 'q') { /* %pq, %*pq: see kprintf.h */
        const char *str = va_arg(ap, const char *);
        if (!str) str = "";
        fmt++;
        put_quoted(s, (const uint8_t *)str, star ? (size_t)width : strnlen(str, 4096));
        break;
      }
      s->put(s, '0');
      s->put(s, 'x');
      put_number(s, (uint32_t)va_arg(ap, void *), 16, false, false, 8, '0');
      break;
    case '%':
      s->put(s, '%');
      break;
    case '\0':
      return;
    default: /* unknown conversion: print it verbatim so the bug is visible */
      s->put(s, '%');
      s->put(s, *fmt);
    }
  }
}

void kvprintf(const char *fmt, va_list ap) {
  struct sink s = {.put = put_serial};
  format(&s, fmt, ap);
}

void kprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kvprintf(fmt, ap);
  va_end(ap);
}

/* One record at a time on the serial lines: two CPUs that report at once
 * (both waiters of a deadlock reach the spin limit together) would otherwise
 * interleave their bytes into lines nobody can parse.  Not a spinlock
 * (kernel/spinlock.h): the lock code's own reports and panics write records,
 * and they must neither go through the order checker nor wait for ever.  So
 * a CPU writes without the lock when it already holds it (a record from an
 * NMI taken inside a record), when the holder was parked by a panic (its
 * NMI may have stopped it mid-record), and after RECORD_WAIT pauses (a few
 * seconds: a holder whose host thread is descheduled on a loaded host must
 * still get its turn).  While only the boot CPU is online there is nobody
 * to wait for, and %gs does not point at its struct cpu before gdt_init. */
#define RECORD_WAIT (1u << 26)
static volatile uint32_t record_owner; /* 0: free, else the writer's CPU index + 1 */

static bool record_begin(void) {
  if (cpu_online_mask == 1) return false;
  uint32_t me = this_cpu()->index + 1;
  for (uint32_t spin = 0; spin < RECORD_WAIT; spin++) {
    uint32_t owner = 0;
    if (__atomic_compare_exchange_n(&record_owner, &owner, me, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
      return true;
    if (owner == me || cpus[owner - 1].parked) return false;
    __asm__ volatile("pause" ::: "memory");
  }
  return false;
}

static void record_end(bool owned) {
  if (owned) __atomic_store_n(&record_owner, 0, __ATOMIC_RELEASE);
}

void krecord(const char *fmt, ...) {
  struct sink s = {.put = put_record};
  va_list ap;
  bool owned = record_begin();
  serial_line_start();
  va_start(ap, fmt);
  format(&s, fmt, ap);
  va_end(ap);
  serial_record_flush();
  record_end(owned);
}

void krecord_quiet(const char *fmt, ...) {
  struct sink s = {.put = put_record_only};
  va_list ap;
  bool owned = record_begin();
  va_start(ap, fmt);
  format(&s, fmt, ap);
  va_end(ap);
  serial_record_flush();
  record_end(owned);
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  struct sink s = {.put = put_buffer, .buf = buf, .size = size};
  format(&s, fmt, ap);
  if (size) buf[s.len < size ? s.len : size - 1] = '\0';
  return (int)s.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int len = kvsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return len;
}
