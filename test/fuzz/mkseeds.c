/*
 * Seeds for the fuzz harnesses, made with the module itself:
 *   mkseeds DIR    writes DIR/<harness>/<name> for every harness
 * cipher: cipher.img files of new checkpoints for the test certificates
 * (RSA, P-256, P-384; with and without a parent; one with a recipient
 * twice); cipher-fields: lists of changes; stream: images sealed under the harnesses'
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

/*
 * A cipher.img of a new checkpoint for the test certificates certs (a
 * NULL-terminated list), with a parent or not; with dup, its first
 * recipient again at the end (a writer never writes that)
 */
static void cipher_seed(const char *name, const char *const *certs, const uint8_t *parent, bool dup)
{
	uint32_t magic[2] = { IMG_COMMON_MAGIC, CIPHER_MAGIC }, size;
	const char *paths[8];
	struct crypt_ctx *ctx;
	CipherEntry ce;
	uint8_t *buf;
	int nr;

	for (nr = 0; certs[nr]; nr++)
		paths[nr] = strdup(fuzz_pki(certs[nr]));
	ctx = crypt_ctx_new(paths, nr, parent, &ce);
	if (!ctx)
		abort();
	if (dup) /* ce.recipients has room for CRYPT_MAX_RECIPIENTS */
		ce.recipients[ce.n_recipients++] = ce.recipients[0];
	size = cipher_entry__get_packed_size(&ce);
	buf = malloc(sizeof(magic) + 4 + size);
	memcpy(buf, magic, sizeof(magic));
	memcpy(buf + sizeof(magic), &size, 4);
	cipher_entry__pack(&ce, buf + sizeof(magic) + 4);
	put("cipher", name, buf, sizeof(magic) + 4 + size);
	free(buf);
	if (dup)
		ce.n_recipients--;
	crypt_entry_free(&ce);
	crypt_ctx_free(ctx);
	while (nr--)
		free((char *)paths[nr]);
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

	/* cipher: for RSA, P-256 and P-384 recipients */
	{
		const char *const rsa[] = { "cert.pem", NULL }, *const ec[] = { "ec-cert.pem", NULL },
				  *const ec384[] = { "ec384-cert.pem", NULL },
				  *const three[] = { "cert.pem", "ec-cert.pem", "ec384-cert.pem", NULL },
				  *const others[] = { "other-cert.pem", "ec384-cert.pem", "ec-cert.pem", "cert.pem",
						      NULL };

		cipher_seed("new", rsa, NULL, false);
		memset(parent, 0x5a, sizeof(parent));
		cipher_seed("new-parent", rsa, parent, false);
		cipher_seed("new-ec", ec, NULL, false);
		cipher_seed("new-ec384-parent", ec384, parent, false);
		cipher_seed("new-three", three, NULL, false);
		cipher_seed("new-others-first", others, NULL, false);
		cipher_seed("new-dup", three, NULL, true);
	}

	/*
	 * cipher-fields (fuzz-cipher-fields.c): each op is its number, the
	 * index of the recipient it changes, and its arguments.  The real
	 * entry; forged ones, with a key of the harness's own RSA or EC wrap
	 * and the right MAC under it (op 17, the fourth key known); the real
	 * key wrapped again for P-256; and changes.
	 */
	put("cipher-fields", "real", "", 0);
	{
		uint8_t b[1024], *q;
		int i;

		/* op 15, shaped: EM of a 32-byte message of 0x33 */
		q = b;
		*q++ = 15, *q++ = 0, *q++ = 1, *q++ = 0, *q++ = 0, *q++ = 0, *q++ = 0, *q++ = 0, *q++ = 0, *q++ = 32;
		memset(q, 0x33, 32);
		q += 32;
		*q++ = 17, *q++ = 0, *q++ = 3;
		put("cipher-fields", "forged-rsa", b, q - b);
		/* op 16: P-256 (0), the scalar 0x0101..., a key of the input (0x80) */
		q = b;
		*q++ = 16, *q++ = 1, *q++ = 0;
		memset(q, 0x01, 32);
		q += 32;
		*q++ = 0x80;
		memset(q, 0x44, 32);
		q += 32;
		*q++ = 17, *q++ = 0, *q++ = 3;
		put("cipher-fields", "forged-ec", b, q - b);
		/* op 16: P-384 (1) of the real key: it opens with the real MAC */
		q = b;
		*q++ = 16, *q++ = 2, *q++ = 1;
		memset(q, 0x07, 48);
		q += 48;
		*q++ = 0;
		put("cipher-fields", "rewrap-ec384", b, q - b);
		/* format 1; the wrap of the RSA recipient "rsa-x"; a parent and the MAC with it */
		put("cipher-fields", "format", (uint8_t[]){ 0, 0, 1, 0, 0, 0 }, 6);
		put("cipher-fields", "wrap", (uint8_t[]){ 11, 0, 5, 'r', 's', 'a', '-', 'x' }, 8);
		q = b;
		*q++ = 3, *q++ = 0, *q++ = 32;
		memset(q, 0x5a, 32);
		q += 32;
		*q++ = 17, *q++ = 0, *q++ = 0;
		put("cipher-fields", "parent", b, q - b);
		/* the P-256 recipient again, first; the RSA one dropped; a recipient of the RSA key's id first */
		put("cipher-fields", "dup", (uint8_t[]){ 8, 1, 0 }, 3);
		put("cipher-fields", "drop", (uint8_t[]){ 7, 0 }, 2);
		put("cipher-fields", "junk-first", (uint8_t[]){ 9, 0, 0, 0 }, 4);
		/* the P-256 ephemeral key: Y negated; a byte flipped; compressed; X = p */
		put("cipher-fields", "negated", (uint8_t[]){ 14, 1, 4, 0 }, 4);
		put("cipher-fields", "flipped", (uint8_t[]){ 14, 1, 3, 1, 0x40, 0 }, 6);
		put("cipher-fields", "compressed", (uint8_t[]){ 14, 1, 7, 0 }, 4);
		put("cipher-fields", "x-is-p", (uint8_t[]){ 14, 1, 5, 0 }, 4);
		/* 13 recipients of other keys (32-byte key ids of the input): 16 in all; and 17 */
		for (i = 0, q = b; i < 14; i++) {
			*q++ = 9, *q++ = 0, *q++ = 0xff, *q++ = 0xe0;
			memset(q, i, 32);
			q += 32;
			if (i == 12)
				put("cipher-fields", "sixteen", b, q - b);
		}
		put("cipher-fields", "seventeen", b, q - b);
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
