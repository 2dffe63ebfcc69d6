/*
 * Shared memory in page images of chosen sizes, for t-page-ring.sh:
 * ring-keeper READY RESULT PAGES...  For each PAGES it maps an anonymous
 * shared region of that many pages (criu dumps each into a page image of
 * its own, of exactly that many pages) and fills every page with words
 * that follow from the region's and the page's number.  READY appears once
 * they are filled; on SIGUSR1 (sent to the restored copy) it checks every
 * page and writes "ok", or the first wrong page and how many are wrong, to
 * RESULT.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "keeper.h"

#define MAX_MAP 16

static uint64_t word(unsigned map, unsigned long page, unsigned i)
{
	uint64_t x = ((uint64_t)map << 56) ^ ((uint64_t)page << 20) ^ i ^ 0x2545f4914f6cdd1dULL;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 29;
	return x;
}

int main(int argc, char **argv)
{
	unsigned long pages[MAX_MAP], p, bad, first_map = 0, first_page = 0;
	uint64_t *mem[MAX_MAP];
	unsigned m, i, nr = argc - 3;
	char msg[128];

	if (argc < 4 || nr > MAX_MAP) {
		fprintf(stderr, "usage: %s READY RESULT PAGES... (1 to %d regions)\n", argv[0], MAX_MAP);
		return 2;
	}
	for (m = 0; m < nr; m++) {
		pages[m] = strtoul(argv[m + 3], NULL, 10);
		mem[m] = mmap(NULL, pages[m] * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (!pages[m] || mem[m] == MAP_FAILED) {
			perror("ring-keeper: mmap");
			return 1;
		}
		for (p = 0; p < pages[m]; p++)
			for (i = 0; i < PAGE / 8; i++)
				mem[m][p * PAGE / 8 + i] = word(m, p, i);
	}
	ask_on_usr1();
	put(argv[1], "ready\n");
	for (;;) {
		wait_usr1();
		bad = 0;
		for (m = 0; m < nr; m++)
			for (p = 0; p < pages[m]; p++)
				for (i = 0; i < PAGE / 8; i++)
					if (mem[m][p * PAGE / 8 + i] != word(m, p, i)) {
						if (!bad++) {
							first_map = m;
							first_page = p;
						}
						break;
					}
		if (bad)
			snprintf(msg, sizeof(msg), "bad: %lu pages wrong, the first page %lu of region %lu\n", bad,
				 first_page, first_map);
		else
			snprintf(msg, sizeof(msg), "ok\n");
		put(argv[2], msg);
	}
}
