/* execer NAME [ARGS...]: execs NAME with the rest as its arguments; if exec
 * returns (it failed), reports the error and exits with status 3.  A shared
 * segment is attached and three heap pages touched first, so the harness can
 * see exec drop them. */
#include "ulib.h"

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : "hello";
  char args[96];
  int len = 0;
  args[0] = '\0';
  for (int i = 2; i < argc; i++)
    len += snprintf(args + len, sizeof(args) - (size_t)len, "%s%s", i > 2 ? " " : "", argv[i]);
  volatile char *heap = sbrk(3 * 4096);
  for (int i = 0; i < 3; i++) heap[i * 4096] = 1;
  int id = shm_create(1);
  if (id > 0) shm_attach(id);
  int rc = exec(name, args);
  printf("USER prog=execer pid=%d name=%s rc=%d\n", getpid(), name, rc);
  return 3;
}
