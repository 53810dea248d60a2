/* Spawns bigwrite (4 MiB in one write) as its child, lets it run, says so,
 * kills it and waits for it.  With preempt=on the child is switched out in
 * the middle of its write, so this runs while that write is in progress, and
 * the kill must end the child at its next preemption point.
 * `killer PID` only tries to kill PID (not its child: refused). */
#include "ulib.h"

int main(int argc, char **argv) {
  if (argc > 1) {
    printf("USER prog=killer pid=%d target=%s kill=%d\n", getpid(), argv[1], kill(atoi(argv[1])));
    return 0;
  }
  int child = spawn("bigwrite", "");
  if (child < 0) return 2;
  yield(); /* the child runs until the timer switches it out, mid-write */
  printf("USER prog=killer pid=%d killing=%d\n", getpid(), child);
  int killed = kill(child);
  int status = wait(child);
  printf("USER prog=killer pid=%d child=%d kill=%d status=%d\n", getpid(), child, killed,
         status);
  return 0;
}
