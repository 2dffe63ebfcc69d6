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

#define PAGE	  4096
#define NR_PAGES  4096
#define HOT_PAGES 64

static volatile sig_atomic_t check_now;

static void on_usr1(int sig)
{
	check_now = 1;
}

static uint64_t word(unsigned page, unsigned gen, unsigned i)
{
	uint64_t x = ((uint64_t)page << 40) ^ ((uint64_t)gen << 20) ^ i ^ 0x9e3779b97f4a7c15ULL;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return x;
}

static void fill(uint64_t *p, unsigned page, unsigned gen)
{
	unsigned i;

	for (i = 0; i < PAGE / 8; i++)
		p[i] = word(page, gen, i);
}

static int page_ok(const uint64_t *p, unsigned page, unsigned gen)
{
	unsigned i;

	for (i = 0; i < PAGE / 8; i++)
		if (p[i] != word(page, gen, i))
			return 0;
	return 1;
}

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
		fill((uint64_t *)(mem + page * PAGE), page, 0);
	signal(SIGUSR1, on_usr1);

	for (;;) {
		if (check_now) {
			const char *what = "ok";

			check_now = 0;
			for (page = 0; page < NR_PAGES; page++)
				if (!page_ok((uint64_t *)(mem + page * PAGE), page, gen[page]))
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
		fill((uint64_t *)(mem + page * PAGE), page, ++gen[page]);
		fprintf(log, "tick %u: page %u at generation %u\n", ++tick, page, gen[page]);
		usleep(100000);
	}
}
