/*
 * mmvprobe: the harness's own static i386 Linux program.  No libc: raw
 * `int $0x80` system calls, so it builds with the host's gcc alone:
 *
 *   gcc -m32 -static -nostdlib -ffreestanding -fno-pie -no-pie \
 *       -fno-stack-protector -fno-asynchronous-unwind-tables -O2 -o mmvprobe mmvprobe.c
 *
 * The harness learns everything it asserts from this ELF's symbol table and
 * from the machine, never from what the program prints:
 *
 *   mmvprobe fault   reads one byte from standard input (the console), then
 *                    writes to address 0 at the instruction labelled
 *                    mmv_fault_insn: a user-mode write to a not-present page
 *                    (#PF error code 0x6); Linux sends SIGSEGV.  The read lets
 *                    the harness arm its breakpoint once exec's own page faults
 *                    are over: the next user fault after the line is this one.
 *   mmvprobe block   reads from a pipe whose write end it holds itself: it sleeps
 *                    in the read() system call until it is killed, so the harness
 *                    can stop inside a system call of this process.
 *
 * Both modes wait in read_labelled(), whose `int $0x80` returns to the global
 * label mmv_syscall_ret: a breakpoint on the kernel's read system call with
 * the condition "the saved user EIP is mmv_syscall_ret" stops in a system call
 * of this process and of no other.
 *
 * mmv_marker is a page-aligned data page holding MARKER_WORDS (the first word
 * is written at run time, so the page is present and dirty): finding those
 * words through a page-table walk proves whose address space it is.
 */
#define SYS_exit  1
#define SYS_read  3
#define SYS_write 4
#define SYS_pipe  42

static inline long syscall1(long n, long a)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a) : "memory");
	return r;
}

static inline long syscall3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static void say(const char *s)
{
	long n = 0;
	while (s[n])
		n++;
	syscall3(SYS_write, 1, (long)s, n);
}

/* The one read() the harness stops in (see above). */
__attribute__((noinline)) static long read_labelled(long fd, char *buf)
{
	long r;
	__asm__ volatile("int $0x80\n.globl mmv_syscall_ret\nmmv_syscall_ret:"
			 : "=a"(r) : "a"(SYS_read), "b"(fd), "c"(buf), "d"(1) : "memory");
	return r;
}

__attribute__((aligned(4096), used))
volatile unsigned int mmv_marker[1024] = { 0, 0x4d4d5646, 0xdeadbeef, 0x12345678 };

__attribute__((noinline, used)) static void null_write(void)
{
	__asm__ volatile(".globl mmv_fault_insn\nmmv_fault_insn:\n\tmovl $0x1234, 0\n" ::: "memory");
}

__attribute__((used)) void mmv_main(long *sp)
{
	long argc = sp[0];
	const char *mode = argc > 1 ? (const char *)sp[2] : "";

	mmv_marker[0] = 0x4b52414d; /* "MARK": the page is present and dirty */
	if (streq(mode, "fault")) {
		char c;
		read_labelled(0, &c);
		null_write();
		say("mmvprobe: survived the null write\n");
		syscall1(SYS_exit, 2);
	} else if (streq(mode, "block")) {
		int fds[2];
		char c;
		syscall1(SYS_pipe, (long)fds);
		say("mmvprobe: blocking\n");
		read_labelled(fds[0], &c); /* never returns: we hold the write end */
		syscall1(SYS_exit, 3);
	}
	say("usage: mmvprobe fault|block\n");
	syscall1(SYS_exit, 1);
}

__asm__(".text\n.globl _start\n_start:\n"
	"\txorl %ebp, %ebp\n"
	"\tmovl %esp, %eax\n"
	"\tandl $-16, %esp\n"
	"\tsubl $12, %esp\n"
	"\tpushl %eax\n"
	"\tcall mmv_main\n"
	"\thlt\n");
