/*
 * What the encryption module needs of criu when it is linked alone (unit
 * tests, benchmarks, fuzz harnesses): the log, errors and warnings to
 * stderr (none when stub_log_quiet is set), the options (all unset: no
 * --tls-cacert, no --tls-key-any-mode), and util.c's
 * read_all()/write_all(); and the tests' result lines (stub.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "cr_options.h"
#include "log.h"
#include "stub.h"

bool stub_log_quiet;

/* crypt-pki.c reads --tls-cacert, --tls-cacrl, --tls-key-pass-file, --tls-key-any-mode */
struct cr_options opts;

void print_on_level(unsigned int loglevel, const char *format, ...)
{
	va_list args;

	if (stub_log_quiet || loglevel > LOG_WARN)
		return;
	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
}

/* As criu's util.c: all of size bytes, or fewer at the end of the file, or -1. */
ssize_t read_all(int fd, void *buf, size_t size)
{
	size_t n = 0;

	while (n < size) {
		ssize_t ret = read(fd, (char *)buf + n, size - n);

		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return n ? (ssize_t)n : -1;
		if (!ret)
			break;
		n += ret;
	}
	return n;
}

ssize_t write_all(int fd, const void *buf, size_t size)
{
	size_t n = 0;

	while (n < size) {
		ssize_t ret = write(fd, (const char *)buf + n, size - n);

		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			return n ? (ssize_t)n : -1;
		n += ret;
	}
	return n;
}

int stub_failed;

/* One "ok - ..." or "not ok - ..." line; a "not ok" fails the program */
void result(int ok, const char *fmt, ...)
{
	va_list args;

	printf(ok ? "ok - " : "not ok - ");
	va_start(args, fmt);
	vprintf(fmt, args);
	va_end(args);
	printf("\n");
	if (!ok)
		stub_failed = 1;
}

/* cr-errno.c: the errno an RPC client gets, the first one set */
int stub_cr_errno;

void set_cr_errno(int err)
{
	if (!stub_cr_errno)
		stub_cr_errno = err;
}
