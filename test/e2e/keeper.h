/*
 * What the workloads of the end-to-end tests share: their answer to a
 * test (put()), the test's request to check their memory (SIGUSR1), and
 * pages of a pattern that never repeats, so that a page checks itself.
 */
#ifndef E2E_KEEPER_H
#define E2E_KEEPER_H
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#define PAGE 4096

/* Write what to the file path: a workload's answer to a test (e.g. "ok"). */
static inline void put(const char *path, const char *what)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(what, f);
		fclose(f);
	}
}

/* Set by SIGUSR1: the test asks the workload (restored, say) to check itself. */
static volatile sig_atomic_t check_now;

static void on_usr1(int sig)
{
	check_now = 1;
}

static inline void ask_on_usr1(void)
{
	signal(SIGUSR1, on_usr1);
}

/* Sleep until the test asks for a check. */
static inline void wait_usr1(void)
{
	while (!check_now)
		pause();
	check_now = 0;
}

/* The 8-byte word i of page p of the pattern seed: never repeats */
static inline uint64_t pattern_word(uint64_t seed, uint64_t p, unsigned i)
{
	uint64_t x = seed ^ (p << 20) ^ i;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 32;
	return x;
}

static inline void pattern_fill(uint64_t *buf, uint64_t seed, uint64_t p)
{
	unsigned i;

	for (i = 0; i < PAGE / 8; i++)
		buf[i] = pattern_word(seed, p, i);
}

static inline int pattern_same(const uint64_t *buf, uint64_t seed, uint64_t p)
{
	unsigned i;

	for (i = 0; i < PAGE / 8; i++)
		if (buf[i] != pattern_word(seed, p, i))
			return 0;
	return 1;
}
#endif
