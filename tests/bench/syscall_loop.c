// SPDX-License-Identifier: MIT
/* Load generator of bpf_cost.sh: issues exactly N syscalls of one kind, so the in-kernel cost
 * of the programs on their tracepoints can be read from bpf_stats.
 *   syscall_loop getppid N   N x getppid(2): runs the empty reference program
 *   syscall_loop file N      N x read(2) of 1 byte from /dev/zero + N x write(2) of 1 byte
 *                            to /dev/null: read/write on fds that are not sockets
 *                            (what `dd if=/dev/zero of=/dev/null bs=1 count=N` does)
 *   syscall_loop getuid N    N x getuid(2): a syscall no program of the agent hooks, the cost
 *                            every syscall on the host pays for the tracepoints' slow path
 * Built by the benchmark script with cc; not part of the CMake build. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s getppid|getuid|file N\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[2], NULL, 10);
	if (strcmp(argv[1], "getppid") == 0) {
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid); /* not glibc's getppid(): never cached */
		return 0;
	}
	if (strcmp(argv[1], "getuid") == 0) {
		for (long i = 0; i < n; i++)
			syscall(SYS_getuid);
		return 0;
	}
	if (strcmp(argv[1], "file") == 0) {
		int in = open("/dev/zero", O_RDONLY | O_CLOEXEC);
		int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
		char c;
		if (in < 0 || out < 0) {
			perror("open");
			return 1;
		}
		for (long i = 0; i < n; i++) {
			if (read(in, &c, 1) != 1 || write(out, &c, 1) != 1) {
				perror("read/write");
				return 1;
			}
		}
		return 0;
	}
	fprintf(stderr, "%s: unknown mode '%s'\n", argv[0], argv[1]);
	return 2;
}
