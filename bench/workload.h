/*
 * What the benchmark workloads share: incompressible, non-zero,
 * non-repeating content (xorshift64, whose output is never 0 and whose
 * period is 2^64 - 1, so no page equals another and nothing compresses),
 * and the files through which a workload tells the harness that it is
 * ready and, after a restore, whether its state came back intact.
 */
#ifndef BENCH_WORKLOAD_H
#define BENCH_WORKLOAD_H

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline uint64_t xs_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Fill len bytes (a multiple of 8) with the stream of seed. */
static inline void xs_fill(void *buf, size_t len, uint64_t *s)
{
	uint64_t *p = buf;
	size_t i;

	for (i = 0; i < len / 8; i++)
		p[i] = xs_next(s);
}

/* Whether len bytes hold the stream of seed; advances the stream. */
static inline int xs_check(const void *buf, size_t len, uint64_t *s)
{
	const uint64_t *p = buf;
	size_t i;
	int ok = 1;

	for (i = 0; i < len / 8; i++)
		ok &= p[i] == xs_next(s);
	return ok;
}

/*
 * Write a one-line status file atomically (the harness polls for it), so
 * that it never reads half a line.
 */
static inline void put_status(const char *path, const char *line)
{
	char tmp[4096];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, strlen(line)) < 0)
		;
	close(fd);
	rename(tmp, path);
}

/* SIGUSR1 asks a (restored) workload to check its state. */
static volatile sig_atomic_t check_requested;

static void on_usr1(int sig)
{
	(void)sig;
	check_requested = 1;
}

static inline void catch_usr1(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
}

/*
 * Sleep until SIGUSR1.  The signal stays blocked outside sigsuspend(), so
 * one that arrives between the test and the sleep is not lost.
 */
static inline void wait_for_check(void)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!check_requested)
		sigsuspend(&old);
	check_requested = 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

#endif
