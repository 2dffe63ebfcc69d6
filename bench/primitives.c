/*
 * The speed of the encryption module's primitives as criu uses them, on
 * one core: the sealed stream (criu/crypt-stream.c) writing and reading a
 * file on tmpfs in 1 MiB pieces, and the page cipher (criu/crypt-page.c)
 * sealing and opening 4 KiB pages in place in batches of 256.  Prints
 * "name MB/s" lines.
 *
 *   primitives DIR [MiB]
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../test/unit/log-stub.h"
#include "crypt.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t piece = 1 << 20, mib = argc > 2 ? atoi(argv[2]) : 1024, i;
	struct crypt_ctx ctx;
	struct crypt_stream *s;
	char path[4096];
	uint8_t *buf;
	double t;
	int fd;

	if (argc < 2 || crypt_init())
		return 2;
	buf = malloc(piece);
	randombytes_buf(buf, piece);
	randombytes_buf(&ctx, sizeof(ctx));
	snprintf(path, sizeof(path), "%s/stream-bench.img", argv[1]);

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	t = now();
	s = crypt_stream_open_write(&ctx, fd, "bench.img");
	for (i = 0; i < mib; i++)
		crypt_stream_write(s, buf, piece);
	crypt_stream_close_write(s);
	crypt_stream_free(s);
	printf("stream-seal %.0f MB/s\n", mib * piece / (now() - t) / 1e6);

	t = now();
	s = crypt_stream_open_read(&ctx, fd, "bench.img");
	while (s && crypt_stream_read(s, buf, piece) > 0)
		;
	crypt_stream_free(s);
	printf("stream-open %.0f MB/s\n", mib * piece / (now() - t) / 1e6);
	close(fd);
	unlink(path);

	{
		uint8_t salt[CRYPT_NONCE_LEN] = {}, *tags = malloc(piece / CRYPT_PAGE_SIZE * CRYPT_TAG_LEN);
		struct crypt_pages *cp = crypt_pages_new(&ctx, "pages-1.img", salt);
		unsigned long nr = piece / CRYPT_PAGE_SIZE;

		if (!cp)
			return 1;
		t = now();
		for (i = 0; i < mib; i++)
			crypt_pages_seal(cp, i * nr, buf, nr, tags);
		printf("pages-seal %.0f MB/s\n", mib * piece / (now() - t) / 1e6);
		t = now();
		for (i = 0; i < mib; i++) {
			crypt_pages_seal(cp, 0, buf, nr, tags);
			crypt_pages_open(cp, 0, buf, nr, tags);
		}
		printf("pages-seal+open %.0f MB/s\n", mib * piece / (now() - t) / 1e6);
		crypt_pages_free(cp);
	}
	return 0;
}
