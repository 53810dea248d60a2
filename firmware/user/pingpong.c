/* Shared-memory ping-pong.  `pingpong ping N` creates a segment, spawns
 * `pingpong pong <id> N`, and the two take turns incrementing a counter in
 * the segment N times each, yielding while it is the other's turn.  pong
 * attaches a scratch segment first, so the shared one lands at a different
 * address in each process. */
#include "ulib.h"

static void play(volatile uint32_t *counter, uint32_t parity, int rounds) {
  for (int i = 0; i < rounds; i++) {
    while (*counter % 2 != parity) yield();
    (*counter)++;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (argv[1][0] == 'p' && argv[1][1] == 'i') { /* ping */
    int rounds = argc > 2 ? atoi(argv[2]) : 10;
    int id = shm_create(1);
    volatile uint32_t *counter = shm_attach(id);
    if (id < 0 || IS_ERR(counter)) return 3;
    char args[40];
    snprintf(args, sizeof(args), "pong %d %d", id, rounds);
    int child = spawn("pingpong", args);
    play(counter, 0, rounds);
    int status = wait(child);
    printf("USER prog=pingpong role=ping pid=%d addr=%p counter=%u child=%d\n", getpid(),
           counter, *counter, status);
    return *counter == (uint32_t)(2 * rounds) && status == 0 ? 0 : 1;
  }
  int id = atoi(argv[2]), rounds = argc > 3 ? atoi(argv[3]) : 10;
  void *scratch = shm_attach(shm_create(1));
  volatile uint32_t *counter = shm_attach(id);
  if (IS_ERR(scratch) || IS_ERR(counter)) return 4;
  checkpoint(1); /* both attached: the harness (make demo) looks at both maps here */
  play(counter, 1, rounds);
  printf("USER prog=pingpong role=pong pid=%d addr=%p counter=%u\n", getpid(), counter,
         *counter);
  return 0;
}
