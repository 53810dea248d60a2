/* Shared-memory abuse: attaching segments that do not exist or were freed,
 * detaching what is not attached, absurd sizes.  `shmattack make` creates a
 * segment and exits with its id (the segment dies with it). */
#include "ulib.h"

static int failures;

static void expect(const char *what, int ret, int want) {
  printf("USER prog=shmattack case=%s ret=%d\n", what, ret);
  if (ret != want) failures++;
}

int main(int argc, char **argv) {
  if (argc > 1 && argv[1][0] == 'm') return shm_create(1);
  int freed = wait(spawn("shmattack", "make"));
  expect("attach-freed", (int)shm_attach(freed), -2);     /* -ENOENT */
  expect("attach-missing", (int)shm_attach(9999), -2);
  expect("attach-negative", (int)shm_attach(-5), -2);
  expect("detach-unattached", shm_detach((void *)0xA0000000), -22);
  expect("detach-kernel", shm_detach((void *)0xC0100000), -22);
  expect("create-zero", shm_create(0), -22);
  expect("create-huge", shm_create(1 << 20), -22);
  int id = shm_create(1);
  volatile int *mine = shm_attach(id);
  if (IS_ERR(mine)) failures++;
  else *mine = 7; /* a real one still works */
  printf("USER prog=shmattack pid=%d failures=%d\n", getpid(), failures);
  return failures;
}
