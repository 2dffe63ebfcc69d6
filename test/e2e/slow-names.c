/*
 * An LD_PRELOAD library for t-manifest-race.sh: in every process forked
 * by the program it is loaded into (criu's helper processes), a memcpy()
 * of an image's file name ("...img" and its terminating zero) sleeps
 * SLOW_NAMES_MS milliseconds (default 200) before it copies.  That widens
 * the moment in which criu's helpers note the images they write, so that
 * two helpers dumping namespaces at the same time are sure to meet there,
 * as they do now and then on their own.  Nothing else changes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

static void *(*real_memcpy)(void *, const void *, size_t);
static pid_t main_pid;
static useconds_t delay = 200 * 1000;

__attribute__((constructor)) static void slow_names_init(void)
{
	const char *ms = getenv("SLOW_NAMES_MS");

	if (ms)
		delay = strtoul(ms, NULL, 10) * 1000;
	main_pid = getpid();
	real_memcpy = dlsym(RTLD_NEXT, "memcpy");
}

static int image_name(const char *s, size_t n)
{
	return n > 5 && n < 256 && !s[n - 1] && s[n - 5] == '.' && s[n - 4] == 'i' && s[n - 3] == 'm' &&
	       s[n - 2] == 'g';
}

void *memcpy(void *dst, const void *src, size_t n)
{
	volatile char *d = dst;
	const volatile char *s = src;
	size_t i;

	if (main_pid && image_name(src, n) && getpid() != main_pid)
		usleep(delay);
	if (real_memcpy)
		return real_memcpy(dst, src, n);
	/* before dlsym() has answered: a copy the compiler can't turn into a call */
	for (i = 0; i < n; i++)
		d[i] = s[i];
	return dst;
}
