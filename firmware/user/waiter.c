/* waiter MODE: waitpid's cases.  Every waitpid's result and the status it
 * wrote go into `got` (pairs, in call order; status -1000 when none was
 * written), which the harness reads from memory at checkpoint(0) before exit.
 *   any       three children exit 11, 12, 13 (the last forked first: the
 *             others yield first); waitpid(-1) four times (the last: ECHILD)
 *   specific  two children exit 21, 22; waitpid(second), waitpid(first),
 *             then waitpid(first) again (ECHILD: already waited)
 *   killed    a child writes to address 0; waitpid(child)
 *   ended     a child exits 5 while the parent yields; waitpid(-1) finds it
 *             in the history; then waitpid(-1) (ECHILD)
 *   none      waitpid(-1) and waitpid(999) with no children (ECHILD both),
 *             waitpid(0) (EINVAL)
 *   badptr    a child exits 3; waitpid(child, a kernel address) (EFAULT: the
 *             child stays unwaited), then waitpid(child) finds it */
#include "ulib.h"

int got[16];
static int n;

static void wait_into(int pid) {
  int status = -1000;
  got[n++] = waitpid(pid, &status);
  got[n++] = status;
}

static int child_exiting(int status, int yields) {
  int pid = fork();
  if (pid == 0) {
    for (int i = 0; i < yields; i++) yield();
    exit(status);
  }
  return pid;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "any";
  if (mode[0] == 'a') {
    child_exiting(11, 6);
    child_exiting(12, 3);
    child_exiting(13, 0);
    for (int i = 0; i < 4; i++) wait_into(-1);
  } else if (mode[0] == 's') {
    int first = child_exiting(21, 0), second = child_exiting(22, 3);
    wait_into(second);
    wait_into(first);
    wait_into(first);
  } else if (mode[0] == 'k') {
    int pid = fork();
    if (pid == 0) *(volatile int *)0 = 1;
    wait_into(pid);
  } else if (mode[0] == 'e') {
    child_exiting(5, 0);
    for (int i = 0; i < 5; i++) yield();
    wait_into(-1);
    wait_into(-1);
  } else if (mode[0] == 'b') {
    int pid = child_exiting(3, 0);
    got[n++] = waitpid(pid, (int *)0xC0000000u);
    got[n++] = -1000;
    wait_into(pid);
  } else {
    wait_into(-1);
    wait_into(999);
    wait_into(0);
  }
  checkpoint(0);
  return 0;
}
