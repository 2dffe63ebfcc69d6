/*
 * Seeds for the fuzz harnesses, made with the module itself:
 *   mkseeds DIR    writes DIR/<harness>/<name> for every harness
 * cipher: cipher.img files of new checkpoints for the test certificate
 * (with and without a parent); stream: images sealed under the harnesses'
 * fixed key; the others: inputs in the harnesses' own formats.  The
 * cipher.img seeds are for the test keys of this machine, so they are made
 * at test time; the others could be kept, and are in test/fuzz/corpus.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "magic.h"
#include "fuzz.h"
#include "images/cipher.pb-c.h"

static const char *top;

static void put(const char *harness, const char *name, const void *buf, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", top, harness);
	if (mkdir(path, 0755) && errno != EEXIST)
		abort();
	snprintf(path, sizeof(path), "%s/%s/%s", top, harness, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write_all(fd, buf, len) != (ssize_t)len || close(fd))
		abort();
}

static void cipher_seed(const char *name, const uint8_t *parent)
{
	uint32_t magic[2] = { IMG_COMMON_MAGIC, CIPHER_MAGIC }, size;
	struct crypt_ctx *ctx;
	CipherEntry ce;
	uint8_t *buf;

	ctx = crypt_ctx_new(fuzz_pki("cert.pem"), parent, &ce);
	if (!ctx)
		abort();
	size = cipher_entry__get_packed_size(&ce);
	buf = malloc(sizeof(magic) + 4 + size);
	memcpy(buf, magic, sizeof(magic));
	memcpy(buf + sizeof(magic), &size, 4);
	cipher_entry__pack(&ce, buf + sizeof(magic) + 4);
	put("cipher", name, buf, sizeof(magic) + 4 + size);
	free(buf);
	crypt_entry_free(&ce);
	crypt_ctx_free(ctx);
}

static void sealed_seed(const char *harness, const char *name, size_t len)
{
	uint8_t *plain = malloc(len + 1), *file;
	size_t i, flen;
	int fd;

	for (i = 0; i < len; i++)
		plain[i] = i * 7;
	fd = fuzz_seal(fuzz_ctx(), "core-1.img", plain, len);
	file = fuzz_file(fd, &flen);
	put(harness, name, file, flen);
	close(fd);
	free(file);
	free(plain);
}

/* a tags record L || name || S || k || k tags, appended at *p */
static uint8_t *record(uint8_t *p, const char *name, uint8_t salt_byte, uint32_t k)
{
	size_t l = strlen(name);

	*p++ = l;
	memcpy(p, name, l);
	p += l;
	memset(p, salt_byte, CRYPT_NONCE_LEN);
	p += CRYPT_NONCE_LEN;
	*p++ = k >> 24;
	*p++ = k >> 16;
	*p++ = k >> 8;
	*p++ = k;
	memset(p, 0x40 + k, k * CRYPT_TAG_LEN);
	return p + k * CRYPT_TAG_LEN;
}

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	uint8_t parent[CRYPT_HASH_LEN], *p;
	char text[] = "the plaintext of an image, in a few bytes";

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds DIR\n");
		return 2;
	}
	top = argv[1];
	fuzz_init();
	mkdir(top, 0755);

	/* cipher */
	cipher_seed("new", NULL);
	memset(parent, 0x5a, sizeof(parent));
	cipher_seed("new-parent", parent);

	/* cipher-fields: the real entry; a forged one with a key of the harness's own wrap; changes */
	put("cipher-fields", "real", "", 0);
	{
		uint8_t forged[64] = { 11, 0, 0, 0, 0, 0, 0, 32 }, fmt[] = { 0, 2, 0, 0, 0 },
			alg[] = { 2, 5, 'r', 's', 'a', '-', 'x' }, parent_op[] = { 9, 32 };

		memset(forged + 8, 0x33, 32);
		forged[40] = 13;
		put("cipher-fields", "forged", forged, 41);
		put("cipher-fields", "format", fmt, sizeof(fmt));
		put("cipher-fields", "alg", alg, sizeof(alg));
		put("cipher-fields", "parent", parent_op, sizeof(parent_op));
	}

	/* stream: sealed images under the fixed key */
	sealed_seed("stream", "empty", 0);
	sealed_seed("stream", "small", 100);
	sealed_seed("stream", "chunk", CRYPT_CHUNK);
	sealed_seed("stream", "chunk+1", CRYPT_CHUNK + 1);
	sealed_seed("stream", "2chunks+5", 2 * CRYPT_CHUNK + 5);

	/* stream-seal: flags piece repeat nr [plaintext] [mutations] */
	{
		uint8_t s[64 + sizeof(text)] = { 0x00, 3, 0, 0 };
		size_t tl = sizeof(text) - 1;

		memcpy(s + 4, text, tl);
		put("stream-seal", "roundtrip", s, 4 + tl);
		s[0] = 0x05; /* write_from, read_to of all */
		put("stream-seal", "write-from", s, 4 + tl);
		s[0] = 0x7a; /* write_fd, read_to of a part; 2.1 MB: the bulk path */
		s[2] = 0xf0;
		put("stream-seal", "bulk", s, 4 + tl);
		s[0] = 0x73; /* 2.5 MiB, both writers, one big read */
		s[2] = 255;
		put("stream-seal", "bulk-read", s, 4 + tl);
		s[0] = 0x00;
		s[2] = 0;
		s[3] = 1; /* one mutation: flip a byte */
		memset(s + 4 + tl, 0, 9);
		s[4 + tl + 1] = 30;
		put("stream-seal", "flip", s, 4 + tl + 9);
		s[4 + tl] = 1; /* truncate */
		put("stream-seal", "truncate", s, 4 + tl + 9);
		s[4 + tl] = 5; /* another name */
		put("stream-seal", "rename", s, 4 + tl + 9);
		s[0] = 0x10; /* 4 chunks, two swapped */
		s[2] = 200;
		s[4 + tl] = 3;
		s[4 + tl + 1] = 0;
		s[4 + tl + 5] = 1;
		put("stream-seal", "swap", s, 4 + tl + 9);
	}

	/* tags: flags cut(u16) plaintext */
	p = buf + 3;
	p = record(p, "pages-1.img", 1, 2);
	p = record(p, "pages-2.img", 2, 0);
	p = record(p, "pages-1.img", 1, 3);
	buf[0] = 0;
	put("tags", "one", buf, p - buf);
	buf[0] = 1;
	buf[1] = (p - buf - 3) - (1 + 11 + 16 + 4 + 3 * 16);
	buf[2] = 0;
	put("tags", "two", buf, p - buf);
	p = record(buf + 3, "pages-1.img", 1, 2);
	buf[1] = p - buf - 3;
	p = record(p, "pages-3.img", 3, 1);
	buf[0] = 1;
	put("tags", "two-ok", buf, p - buf);
	p = record(buf + 3, "pages-1.img", 1, 1);
	p = record(p, "pages-1.img", 9, 1);
	buf[0] = 0;
	put("tags", "salts", buf, p - buf);

	/* pages: flags pages at(u32) val delta cut reads [reads...] */
	{
		uint8_t s[] = { 0x00, 5, 0, 0, 0, 0, 0, 0, 2, 3,
				/* read: 2 iovecs, page 1, 1 + 2 pages */
				2, 0x00, 1, 0, 1, 0, 2, 0,
				/* all of it, in one */
				1, 0x00, 0, 0, 5, 0,
				/* half a page */
				1, 0x01, 0, 0, 0, 0, 0, 8 };

		put("pages", "direct", s, sizeof(s));
		s[0] = 0x01;
		put("pages", "writer", s, sizeof(s));
		s[0] = 0x25; /* 1280 pages through the writer, 2 threads, the ring */
		s[1] = 255;
		put("pages", "writer-many", s, sizeof(s));
		s[0] = 0x02; /* a flipped byte in page 2 */
		s[1] = 5;
		s[2] = 0x10;
		s[4] = 0x20;
		put("pages", "flip", s, sizeof(s));
		s[0] = 0x08; /* a page cut off */
		s[7] = 1;
		put("pages", "cut", s, sizeof(s));
		s[0] = 0x10;
		put("pages", "salt", s, sizeof(s));
	}
	return 0;
}
