/*
 * The stream reader on a sealed image as it is in a checkpoint: the input
 * is the whole file, in a memfd, read as "core-1.img" under a fixed
 * checkpoint key (fuzz_ctx(); the seeds are images sealed under it, and
 * real images of a dump, which are under another key).  Three readers, as
 * criu has them: crypt_stream_read() in pieces, crypt_stream_read_to() of
 * all of it into a memfd, and crypt_stream_read_to() of a part then
 * crypt_stream_read() of the rest.
 *
 * Properties: no memory error, leak or UB; an image that opens has the
 * size crypt_stream_size() says (the file less the header and a tag per
 * chunk); the readers agree: all give that many bytes, the same ones, or
 * all fail; an image refused by open is refused by every reader.
 */
#include <unistd.h>

#include "fuzz.h"

#define NAME "core-1.img"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

/* crypt_stream_read() in pieces of odd sizes; the bytes (malloc'd) or NULL */
static uint8_t *read_pieces(int fd, off_t size)
{
	struct crypt_stream *s = crypt_stream_open_read(fuzz_ctx(), fd, NAME);
	uint8_t *buf = malloc(size + 1);
	size_t got = 0, piece = 1;
	ssize_t n;

	if (!s) {
		free(buf);
		return NULL;
	}
	fuzz_assert(crypt_stream_size(s) == size);
	while ((n = crypt_stream_read(s, buf + got, piece < size + 1 - got ? piece : size + 1 - got)) > 0) {
		got += n;
		fuzz_assert(got <= size);
		piece = piece * 5 + 3;
		if (piece > 200000)
			piece = 7;
	}
	crypt_stream_free(s);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	fuzz_assert(got == size);
	return buf;
}

/* crypt_stream_read_to() of len bytes (all when < 0), and crypt_stream_read() of the rest */
static uint8_t *read_to(int fd, off_t size, off_t len)
{
	struct crypt_stream *s = crypt_stream_open_read(fuzz_ctx(), fd, NAME);
	int out = fuzz_memfd(NULL, 0);
	uint8_t *buf = NULL;
	size_t got = 0;
	ssize_t n = 0;

	if (!s)
		goto out;
	if (crypt_stream_read_to(s, out, len))
		goto out;
	buf = fuzz_file(out, &got);
	fuzz_assert(len < 0 ? got == size : got == len);
	buf = realloc(buf, size + 1);
	while (got < size + 1 && (n = crypt_stream_read(s, buf + got, size + 1 - got)) > 0)
		got += n;
	if (n < 0) {
		free(buf);
		buf = NULL;
		goto out;
	}
	fuzz_assert(got == size);
out:
	crypt_stream_free(s);
	close(out);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = fuzz_memfd(data, size);
	struct crypt_stream *s = crypt_stream_open_read(fuzz_ctx(), fd, NAME);
	uint8_t *a, *b, *c;
	off_t plain;

	if (!s) {
		fuzz_assert(!read_to(fd, 0, -1));
		close(fd);
		return 0;
	}
	plain = crypt_stream_size(s);
	crypt_stream_free(s);
	fuzz_assert(size >= CRYPT_HDR_LEN + CRYPT_TAG_LEN && plain >= 0 && plain <= size - CRYPT_HDR_LEN - CRYPT_TAG_LEN);
	fuzz_assert(plain == size - CRYPT_HDR_LEN -
				     CRYPT_TAG_LEN * ((size - CRYPT_HDR_LEN + CRYPT_CHUNK + CRYPT_TAG_LEN - 1) /
						      (CRYPT_CHUNK + CRYPT_TAG_LEN)));
	a = read_pieces(fd, plain);
	b = read_to(fd, plain, -1);
	c = read_to(fd, plain, plain / 3);
	/* open authenticates the last chunk only: a changed earlier one fails every reader, later */
	fuzz_assert((!a && !b && !c) || (a && b && c && !memcmp(a, b, plain) && !memcmp(a, c, plain)));
	free(a);
	free(b);
	free(c);
	close(fd);
	return 0;
}
