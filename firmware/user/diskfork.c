/* One raw-disk descriptor shared across fork: `diskfork DEVICE`.  The
 * parent opens DEVICE read-write and forks; the child writes "child" at byte
 * 1000 through the inherited descriptor and exits without closing it; the
 * parent waits, writes "parent" at byte 2000 through its own copy, fsyncs
 * and exits, also without closing.  Both exits drop their reference: the
 * last one frees the open file (the test checks the kernel heap).
 *   USER prog=diskfork fd=<n> child=<pwrite rc> parent=<pwrite rc> fsync=<rc> */
#include "ulib.h"

int main(int argc, char **argv) {
  if (argc < 2) return 100;
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) {
    printf("USER prog=diskfork fd=%d\n", fd);
    return 1;
  }
  int pid = fork();
  if (pid == 0) return pwrite(fd, "child", 5, 1000) == 5 ? 0 : 2;
  int status = -1;
  waitpid(pid, &status);
  int parent = pwrite(fd, "parent", 6, 2000);
  int synced = fsync(fd);
  printf("USER prog=diskfork fd=%d child=%d parent=%d fsync=%d\n", fd, status, parent, synced);
  return status == 0 && parent == 6 && synced == 0 ? 0 : 3;
}
