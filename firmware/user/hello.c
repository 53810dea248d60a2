/* Prints its arguments and exits with the first one as its status. */
#include "ulib.h"

int main(int argc, char **argv) {
  printf("USER prog=hello pid=%d argc=%d\n", getpid(), argc);
  return argc > 1 ? atoi(argv[1]) : 0;
}
