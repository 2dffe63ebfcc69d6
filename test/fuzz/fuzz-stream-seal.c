/*
 * The stream, both ways: the harness seals plaintext of the input with
 * crypt_stream_open_write() under a fixed key, changes the sealed file as
 * the input says (or not), and reads it back.  Input:
 *
 *   flags   bits 0-1 how it is written: crypt_stream_write() in pieces,
 *                    crypt_stream_write_from() of a memfd after a first
 *                    piece, crypt_stream_write_fd(), both in turn
 *           bits 2-3 how it is read: crypt_stream_read() in pieces,
 *                    crypt_stream_read_to() of all, of a part and then
 *                    crypt_stream_read() of the rest, one big read
 *           bit 4    the plaintext is the rest of the input repeated to
 *                    64 KiB + (repeat + 1) * 520 bytes, or, with bits 5
 *                    and 6 also set and repeat >= 240, to 2 MiB + repeat *
 *                    2053 (the bulk path of 32 chunks and more, and its
 *                    thread; rare, as it is slow)
 *   piece   the size of the first piece written and read
 *   repeat  (see bit 4)
 *   nr      mutations (nr % 4), each: type, a (u32), b (u32):
 *             flip a byte, truncate, append bytes of the file, swap two
 *             chunks, insert a copy of a chunk, read under another name
 *   the rest: the plaintext
 *
 * Properties: an unchanged file opens, has the plaintext's size and reads
 * back as the plaintext whatever the reader; a changed one (any byte,
 * length, chunk order, or another name) is refused by every reader, at
 * open or at the latest when it reaches the end; no memory error, leak or
 * UB; no hang.
 */
#include <unistd.h>

#include "fuzz.h"

#define C	  (CRYPT_CHUNK + CRYPT_TAG_LEN)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

static int seal(const uint8_t *plain, size_t len, int how, size_t piece)
{
	int fd = fuzz_memfd(NULL, 0), pfd = -1;
	struct crypt_stream *s = crypt_stream_open_write(fuzz_ctx(), fd, "core-1.img");
	size_t off = 0, n;

	fuzz_assert(s);
	if (how == 1 || how == 3)
		pfd = fuzz_memfd(plain, len);
	if (how == 2) {
		pfd = fuzz_memfd(plain, len);
		fuzz_assert(!crypt_stream_write_fd(s, pfd));
		off = len;
	}
	while (off < len) {
		n = piece < len - off ? piece : len - off;
		if (how == 0 || !off) {
			fuzz_assert(!crypt_stream_write(s, plain + off, n));
		} else {
			fuzz_assert(!crypt_stream_write_from(s, pfd, off, len - off));
			n = len - off;
		}
		off += n;
		piece = piece * 3 + 1;
	}
	fuzz_assert(!crypt_stream_close_write(s));
	crypt_stream_free(s);
	if (pfd >= 0)
		close(pfd);
	return fd;
}

/* The file read back by reader how; 0 when it reads as plain, -1 when refused */
static int read_back(int fd, const char *name, int how, size_t piece, const uint8_t *plain, size_t len)
{
	struct crypt_stream *s = crypt_stream_open_read(fuzz_ctx(), fd, name);
	uint8_t *buf = malloc(len + 1), *part = NULL;
	size_t got = 0, plen = 0;
	int ret = -1, out = -1;
	ssize_t n = 0;
	off_t first;

	if (!s)
		goto out;
	fuzz_assert(crypt_stream_size(s) == len);
	if (how == 1 || how == 2) {
		first = how == 1 ? -1 : (off_t)(piece * 4099 % (len + 1));
		out = fuzz_memfd(NULL, 0);
		if (crypt_stream_read_to(s, out, first))
			goto out;
		part = fuzz_file(out, &plen);
		fuzz_assert(plen == (first < 0 ? len : first));
		memcpy(buf, part, plen);
		got = plen;
	}
	while (got < len + 1 && (n = crypt_stream_read(s, buf + got, how == 3 ? len + 1 - got :
								   piece < len + 1 - got ? piece : len + 1 - got)) > 0) {
		got += n;
		piece = piece * 3 + 1;
	}
	if (n < 0)
		goto out;
	fuzz_assert(got == len && !memcmp(buf, plain, len));
	ret = 0;
out:
	crypt_stream_free(s);
	if (out >= 0)
		close(out);
	free(part);
	free(buf);
	return ret;
}

static uint8_t *file, *orig;
static size_t file_len, orig_len;

static void file_set(int fd)
{
	free(file);
	file = fuzz_file(fd, &file_len);
}

/* Apply one mutation to file; returns whether the name changes */
static bool mutate(struct fuzz_in *in)
{
	uint8_t type = in_u8(in) % 6;
	uint32_t a = in_u32(in), b = in_u32(in);
	size_t nr = file_len > CRYPT_HDR_LEN ? (file_len - CRYPT_HDR_LEN + C - 1) / C : 0, i, j, l;
	uint8_t *tmp;

	switch (type) {
	case 0:
		if (file_len)
			file[a % file_len] ^= (b | 1) & 0xff;
		break;
	case 1:
		file_len = a % (file_len + 1);
		break;
	case 2:
		l = a % (2 * C);
		file = realloc(file, file_len + l + 1);
		for (i = 0; i < l && file_len; i++)
			file[file_len + i] = file[(b + i) % file_len];
		file_len += file_len ? l : 0;
		break;
	case 3:
	case 4:
		if (!nr)
			break;
		i = a % nr;
		j = b % nr;
		if (type == 3 && i != j) {
			size_t li = i == nr - 1 ? file_len - CRYPT_HDR_LEN - i * C : C;
			size_t lj = j == nr - 1 ? file_len - CRYPT_HDR_LEN - j * C : C;

			/* whole chunks only: a short last one goes nowhere else */
			if (li != C || lj != C)
				break;
			tmp = malloc(C);
			memcpy(tmp, file + CRYPT_HDR_LEN + i * C, C);
			memcpy(file + CRYPT_HDR_LEN + i * C, file + CRYPT_HDR_LEN + j * C, C);
			memcpy(file + CRYPT_HDR_LEN + j * C, tmp, C);
			free(tmp);
		} else if (type == 4) {
			/* chunk i again, after chunk j */
			l = i == nr - 1 ? file_len - CRYPT_HDR_LEN - i * C : C;
			tmp = malloc(file_len + l);
			size_t at = CRYPT_HDR_LEN + (j == nr - 1 ? file_len - CRYPT_HDR_LEN : (j + 1) * C);

			memcpy(tmp, file, at);
			memcpy(tmp + at, file + CRYPT_HDR_LEN + i * C, l);
			memcpy(tmp + at + l, file + at, file_len - at);
			free(file);
			file = tmp;
			file_len += l;
		}
		break;
	case 5:
		return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = in_u8(&in), nr_mut;
	size_t piece = in_u8(&in) * 97 + 1, len, i;
	size_t repeat = in_u8(&in);
	bool renamed = false, changed;
	uint8_t *plain;
	int fd, i_mut, how_read = (flags >> 2) & 3;

	nr_mut = in_u8(&in) % 4;
	/* the mutations' bytes are taken after the plaintext's */
	if (in.len < nr_mut * 9u)
		nr_mut = in.len / 9;
	len = in.len - nr_mut * 9;
	if (flags & 0x10) {
		size_t want = (flags & 0x60) == 0x60 && repeat >= 0xf0 ? 32 * CRYPT_CHUNK + repeat * 2053 :
									   (repeat + 1) * 520 + 65536;

		size_t have = len < want ? len : want;

		plain = malloc(want);
		memcpy(plain, in.p, have);
		if (!have)
			plain[have++] = 0x5a;
		for (; have < want; have += i) {
			i = have < want - have ? have : want - have;
			memcpy(plain + have, plain, i);
		}
		len = want;
	} else {
		plain = malloc(len + 1);
		memcpy(plain, in.p, len);
	}
	in.p += in.len - nr_mut * 9;
	in.len = nr_mut * 9;

	fd = seal(plain, len, flags & 3, piece);
	file_set(fd);
	close(fd);
	orig = malloc(file_len + 1);
	memcpy(orig, file, file_len);
	orig_len = file_len;
	fuzz_assert(orig_len == CRYPT_HDR_LEN + len + CRYPT_TAG_LEN * (len ? (len + CRYPT_CHUNK - 1) / CRYPT_CHUNK : 1));
	for (i_mut = 0; i_mut < nr_mut; i_mut++)
		renamed |= mutate(&in);
	changed = renamed || file_len != orig_len || memcmp(file, orig, file_len);

	fd = fuzz_memfd(file, file_len);
	if (changed)
		fuzz_assert(read_back(fd, renamed ? "core-2.img" : "core-1.img", how_read, piece, plain, len) < 0);
	else
		fuzz_assert(read_back(fd, "core-1.img", how_read, piece, plain, len) == 0);
	close(fd);
	free(orig);
	free(plain);
	return 0;
}
