/*
 * A workload for iterative (pre-)dumps: it holds a secret and 16 MiB of
 * pages whose contents follow from their number and a per-page generation,
 * and rewrites a few of the first 64 pages every tick, so that each
 * pre-dump in a chain finds some pages dirty and most of them clean.
 * On SIGUSR1 it checks every page and the secret and writes "ok" (or what
 * is wrong) to RESULT_FILE.
 *
 * usage: page-keeper SECRET_FILE LOG_FILE RESULT_FILE
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>

#include "secret.h"
#include "keeper.h"

#define NR_PAGES  4096
#define HOT_PAGES 64

/* The pattern of generation gen of the pages */
#define SEED(gen) (0x9e3779b97f4a7c15ULL ^ ((uint64_t)(gen) << 40))

int main(int argc, char **argv)
{
	unsigned gen[NR_PAGES] = { 0 }, page, tick = 0, check;
	char *secret, *mem;
	FILE *f, *log;

	if (argc < 4) {
		fprintf(stderr, "usage: %s SECRET_FILE LOG_FILE RESULT_FILE\n", argv[0]);
		return 2;
	}
	secret = read_secret(argv[1]);
	check = secret_sum(secret);
	mem = mmap(NULL, NR_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* soft-dirty marks a whole huge page dirty: keep the pages small, so that what is dirty is known */
	if (mem != MAP_FAILED)
		madvise(mem, NR_PAGES * PAGE, MADV_NOHUGEPAGE);
	log = fopen(argv[2], "a");
	if (mem == MAP_FAILED || !log) {
		perror("page-keeper");
		return 1;
	}
	setvbuf(log, NULL, _IOLBF, 0);
	for (page = 0; page < NR_PAGES; page++)
		pattern_fill((uint64_t *)(mem + page * PAGE), SEED(0), page);
	ask_on_usr1();

	for (;;) {
		if (check_now) {
			const char *what = "ok";

			check_now = 0;
			for (page = 0; page < NR_PAGES; page++)
				if (!pattern_same((uint64_t *)(mem + page * PAGE), SEED(gen[page]), page))
					break;
			if (page < NR_PAGES)
				what = "a page is wrong";
			else if (secret_sum(secret) != check)
				what = "the secret is wrong";
			f = fopen(argv[3], "w");
			if (f) {
				fprintf(f, "%s\n", what);
				fclose(f);
			}
		}
		page = (tick * 7) % HOT_PAGES;
		pattern_fill((uint64_t *)(mem + page * PAGE), SEED(++gen[page]), page);
		fprintf(log, "tick %u: page %u at generation %u\n", ++tick, page, gen[page]);
		usleep(100000);
	}
}
