/*
 * The memory-intensive workload: one process holding MIB MiB of anonymous
 * private memory, every byte written with the xorshift stream (non-zero,
 * non-repeating, incompressible), so that criu has MIB MiB of pages to
 * dump and none to skip.  Every page is written before READY appears, so
 * the first measurement sees the process fully populated.  On SIGUSR1 (sent
 * to the restored copy) it checks all of its memory against the stream and
 * writes "ok" or "bad" to RESULT.
 *
 *   memhog MIB READY RESULT
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "workload.h"

#define SEED 0x9e3779b97f4a7c15ULL

int main(int argc, char **argv)
{
	size_t len;
	uint64_t s;
	char *mem;

	if (argc != 4) {
		fprintf(stderr, "usage: %s MIB READY RESULT\n", argv[0]);
		return 2;
	}
	len = (size_t)atol(argv[1]) << 20;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	catch_usr1();
	s = SEED;
	xs_fill(mem, len, &s);
	put_status(argv[2], "ready\n");

	for (;;) {
		wait_for_check();
		s = SEED;
		put_status(argv[3], xs_check(mem, len, &s) ? "ok\n" : "bad\n");
	}
}
