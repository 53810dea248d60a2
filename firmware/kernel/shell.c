/* The serial debug shell: the line editor, the parser, the command table and
 * help.  The commands themselves are in shell_cmds.c. */
#include "kernel/shell.h"
#include "arch/i386/cpu.h"
#include "dev/balloon.h"
#include "kernel/kprintf.h"
#include "kernel/proc.h"
#include "kernel/serial.h"
#include "kernel/shell_internal.h"
#include "lib/string.h"

#define PROMPT "mm> "
#define CHAR_CTRL_C 0x03
#define CHAR_BACKSPACE 0x08
#define CHAR_DELETE 0x7F /* what most terminals send for the backspace key */
#define CHAR_PRINTABLE_FIRST 0x20
#define CHAR_PRINTABLE_LAST 0x7E
#define ANY_COUNT UINT32_MAX

struct shell_command {
  const char *name;
  const char *synopsis;         /* the usage line, after "usage: " */
  const char *summary;          /* what help says about it */
  uint32_t min_args, max_args;  /* words after the command */
  int (*run)(const struct shell_args *a);
};

static int cmd_help(const struct shell_args *a);

static const struct shell_command commands[] = {
    {"help", "help [command]", "list the commands, or describe one", 0, 1, cmd_help},
    {"meminfo", "meminfo", "physical memory (total, free, reserved) and the heap summary", 0, 0,
     shell_cmd_meminfo},
    {"map", "map [pid]", "regions of the kernel's (or process pid's) address space", 0, 1,
     shell_cmd_map},
    {"heap", "heap", "heap statistics, size classes and error counters", 0, 0, shell_cmd_heap},
    {"leaks", "leaks [mark]", "live heap blocks and their callers (since mark)", 0, 1,
     shell_cmd_leaks},
    {"mark", "mark", "start a new leak epoch and print its mark", 0, 0, shell_cmd_mark},
    {"faults", "faults", "recent page faults (the ring buffer), oldest first", 0, 0,
     shell_cmd_faults},
    {"ps", "ps", "the process table", 0, 0, shell_cmd_ps},
    {"run", "run module [args]", "start a user program and run until no process can run", 1,
     ANY_COUNT, shell_cmd_run},
};

static const struct shell_command *find_command(const char *name) {
  for (uint32_t i = 0; i < ARRAY_SIZE(commands); i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

static int cmd_help(const struct shell_args *a) {
  if (a->argc > 1) {
    const struct shell_command *c = find_command(a->argv[1]);
    if (!c) {
      kprintf("help: no command '%s'\n", a->argv[1]);
      return SHELL_OK;
    }
    kprintf("usage: %s\n  %s\n", c->synopsis, c->summary);
    return SHELL_OK;
  }
  kprintf("commands:\n");
  for (uint32_t i = 0; i < ARRAY_SIZE(commands); i++)
    kprintf("  %-18s %s\n", commands[i].synopsis, commands[i].summary);
  return SHELL_OK;
}

/* Input that arrived while `run` was watching COM1 for Ctrl-C: read_line
 * takes it first, so what is typed during a run is not lost.  Ctrl-C drops
 * what came before it, as a terminal does; beyond a line's worth is dropped. */
static char typeahead[SHELL_LINE_MAX];
static uint32_t typeahead_len, typeahead_pos;
static volatile bool ctrl_c_seen;

void shell_watch_input(void) {
  for (int c; (c = serial_getc_nonblock()) >= 0;) {
    if (c == CHAR_CTRL_C) {
      ctrl_c_seen = true;
      typeahead_len = typeahead_pos = 0;
      sched_interrupt();
    } else if (typeahead_len < sizeof(typeahead)) {
      typeahead[typeahead_len++] = (char)c;
    }
  }
}

uint32_t shell_read_input(char *buf, uint32_t max) {
  shell_watch_input();
  uint32_t n = 0;
  while (n < max && typeahead_pos < typeahead_len) buf[n++] = typeahead[typeahead_pos++];
  if (typeahead_pos == typeahead_len) typeahead_pos = typeahead_len = 0;
  return n;
}

bool shell_take_ctrl_c(void) {
  bool seen = ctrl_c_seen;
  ctrl_c_seen = false;
  return seen;
}

static int shell_getc(void) {
  if (typeahead_pos < typeahead_len) return (unsigned char)typeahead[typeahead_pos++];
  typeahead_pos = typeahead_len = 0;
  return serial_getc_nonblock();
}

/* One line from COM1 into buf (at most size - 1 characters), echoed as it
 * is typed.  Backspace and DEL erase, Ctrl-C abandons the line, other
 * control characters and characters beyond the buffer are dropped.  '\r'
 * and '\n' both end the line; the '\n' of a "\r\n" pair is swallowed, so a
 * terminal that sends both does not produce an empty line each time.
 * Returns the line's length. */
static size_t read_line(char *buf, size_t size) {
  static bool after_cr; /* the last line ended with '\r' */
  size_t len = 0;
  for (;;) {
    int c = shell_getc();
    if (c < 0) {
      balloon_poll(); /* a safe point while the shell waits */
      cpu_relax(); /* interrupts are off: polling is the only way to wait */
      continue;
    }
    bool swallow = c == '\n' && after_cr;
    after_cr = c == '\r';
    if (swallow) continue;
    if (c == '\r' || c == '\n') {
      serial_putc('\n');
      break;
    }
    if (c == CHAR_CTRL_C) {
      serial_write("^C\n", 3);
      len = 0;
      break;
    }
    if (c == CHAR_BACKSPACE || c == CHAR_DELETE) {
      if (len) {
        len--;
        serial_write("\b \b", 3); /* back, blank the character, back */
      }
      continue;
    }
    if (c < CHAR_PRINTABLE_FIRST || c > CHAR_PRINTABLE_LAST || len + 1 >= size) continue;
    buf[len++] = (char)c;
    serial_putc((char)c);
  }
  buf[len] = '\0';
  return len;
}

/* Splits line into words at spaces.  words (as large as line) receives a
 * copy with the separators replaced by NULs, which argv points into; rest
 * points into line itself. */
static void parse(const char *line, char *words, struct shell_args *a) {
  memset(a, 0, sizeof(*a));
  strlcpy(words, line, SHELL_LINE_MAX);
  for (size_t i = 0; line[i];) {
    if (line[i] == ' ') {
      words[i++] = '\0';
      continue;
    }
    if (a->argc < SHELL_MAX_WORDS) {
      a->argv[a->argc] = &words[i];
      a->rest[a->argc] = &line[i];
    }
    a->argc++;
    while (line[i] && line[i] != ' ') i++;
  }
}

static void execute(const struct shell_args *a) {
  const struct shell_command *c = find_command(a->argv[0]);
  if (!c) {
    kprintf("unknown command '%s' (try help)\n", a->argv[0]);
    return;
  }
  uint32_t given = a->argc - 1;
  if (given < c->min_args || given > c->max_args || c->run(a) == SHELL_USAGE)
    kprintf("usage: %s\n", c->synopsis);
}

void shell_run(void) {
  /* Static: the shell never returns, and the boot stack is small. */
  static char line[SHELL_LINE_MAX], words[SHELL_LINE_MAX];
  kprintf("mmverify debug shell on COM1 (help lists the commands)\n");
  for (;;) {
    serial_write(PROMPT, sizeof(PROMPT) - 1);
    size_t len = read_line(line, sizeof(line));
    while (len && line[len - 1] == ' ') line[--len] = '\0'; /* rest[] ends with the text */
    struct shell_args a;
    parse(line, words, &a);
    if (a.argc) execute(&a);
  }
}
