/*
 * The test vectors of Documentation/encryption-format.txt: a small
 * encrypted checkpoint of format 2 (test/vectors/ckpt, for one RSA
 * recipient, the throwaway key test/vectors/key.pem), its checkpoint
 * digest, and every key, nonce and tag of its stream image and its page
 * image (test/vectors/vectors.txt).
 *
 *   vectors make DIR CERT   write the checkpoint into DIR, print vectors.txt;
 *                           randomness from SHA-256 of a counter, so that
 *                           making it again gives the same files
 *   vectors check DIR KEY VECTORS
 *                           the module (criu's code) derives every value
 *                           of VECTORS again from the files of DIR and
 *                           KEY, and opens the images; "ok - ..." lines.
 *                           KEY must be mode 600, as criu wants it.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/sha2.h>
#include <sodium/crypto_aead_chacha20poly1305.h>

#include "crypt-private.h"
#include "stub.h"
#include "magic.h"
#include "images/cipher.pb-c.h"

#define STREAM_NAME "vector.img"
#define STREAM_LEN  (CRYPT_CHUNK + 100) /* two chunks */
#define PAGES_NAME  "pages-1.img"
/* a page a dump --lazy-pages serves from memory: task 1's, at LAZY_ADDR */
#define LAZY_NAME "lazy-pages-1"
#define LAZY_ADDR 0x7f0000002000ULL
#define NR_PAGES    2

/* Deterministic randomness for "make": SHA-256("criu-encrypt test vectors" || counter) */
int gnutls_rnd(gnutls_rnd_level_t level, void *data, size_t len)
{
	static const char seed[] = "criu-encrypt test vectors";
	static uint32_t counter;
	uint8_t block[SHA256_DIGEST_SIZE];
	struct sha256_ctx h;
	size_t n;

	while (len) {
		sha256_init(&h);
		sha256_update(&h, sizeof(seed) - 1, (const uint8_t *)seed);
		sha256_update(&h, sizeof(counter), (const uint8_t *)&counter);
		sha256_digest(&h, sizeof(block), block);
		counter++;
		n = len < sizeof(block) ? len : sizeof(block);
		memcpy(data, block, n);
		data += n;
		len -= n;
	}
	return 0;
}

static uint8_t stream_byte(size_t i)
{
	return i % 251;
}

static uint8_t page_byte(unsigned j, size_t i)
{
	return (j * 131 + i) & 0xff;
}

static void put_hex(FILE *f, const char *name, const uint8_t *p, size_t len)
{
	fprintf(f, "%s = ", name);
	while (len--)
		fprintf(f, "%02x", *p++);
	fprintf(f, "\n");
}

static void chunk_nonce(uint64_t i, bool last, uint8_t *iv)
{
	int b;

	memset(iv, 0, CRYPT_IV_LEN);
	for (b = 10; b >= 3; b--, i >>= 8)
		iv[b] = i & 0xff;
	iv[11] = last;
}

static void page_nonces(uint64_t j, uint8_t *tweak, uint8_t *gnonce)
{
	int b;

	memset(tweak, 0, 16);
	memset(gnonce, 0, 12);
	for (b = 0; b < 8; b++) {
		tweak[b] = j >> (8 * b);
		gnonce[11 - b] = j >> (8 * b);
	}
}

/*
 * The lazy page: the plaintext of page_byte(2, i) sealed with the keys of
 * LAZY_NAME (a salt of zeros) as page index LAZY_ADDR / 4096, into page
 * and tag; the keys into kx and kt.
 */
static int lazy_page(const struct crypt_ctx *ctx, uint8_t *page, uint8_t *tag, uint8_t *kx, uint8_t *kt)
{
	static const uint8_t salt[CRYPT_NONCE_LEN];
	struct crypt_pages *cp;
	size_t i;
	int ret;

	for (i = 0; i < CRYPT_PAGE_SIZE; i++)
		page[i] = page_byte(2, i);
	crypt_derive_named(ctx, CRYPT_LABEL_XTS, salt, LAZY_NAME, kx, 2 * CRYPT_KEY_LEN);
	crypt_derive_named(ctx, CRYPT_LABEL_TAG, salt, LAZY_NAME, kt, CRYPT_KEY_LEN);
	cp = crypt_pages_new(ctx, LAZY_NAME, salt);
	ret = !cp || crypt_pages_seal(cp, LAZY_ADDR / CRYPT_PAGE_SIZE, page, 1, tag);
	crypt_pages_free(cp);
	return ret ? -1 : 0;
}

static void *file(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	struct stat st;
	uint8_t *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) || !(buf = malloc(st.st_size + 1)) || read(fd, buf, st.st_size) != st.st_size) {
		perror(path);
		exit(2);
	}
	close(fd);
	*len = st.st_size;
	return buf;
}

static int create(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		exit(2);
	}
	return fd;
}

static void sealed(const struct crypt_ctx *ctx, const char *dir, const char *name, const void *buf, size_t len)
{
	int fd = create(dir, name);
	struct crypt_stream *s = crypt_stream_open_write(ctx, fd, name);

	if (!s || crypt_stream_write(s, buf, len) || crypt_stream_close_write(s))
		exit(2);
	crypt_stream_free(s);
	close(fd);
}

static void sha256(const void *p, size_t len, uint8_t *out)
{
	struct sha256_ctx h;

	sha256_init(&h);
	sha256_update(&h, len, p);
	sha256_digest(&h, SHA256_DIGEST_SIZE, out);
}

/* F(x) = BE_2(length of x) || x, at p; the end */
static uint8_t *put_field(uint8_t *p, const void *x, size_t len)
{
	*p++ = len >> 8;
	*p++ = len;
	memcpy(p, x, len);
	return p + len;
}

static uint8_t *put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		*p++ = v >> (56 - 8 * i);
	return p;
}

/*
 * The checkpoint digest of section 9, written here again from the text:
 * SHA-256(ASCII("criu-encrypt v2 checkpoint") || 0x00 || BE_8(|M|) || M
 * || mac || BE_8(|P|) || P), M of section 4, P the file manifest.img
 */
static void spec_digest(const CipherEntry *ce, const uint8_t *manifest, size_t len, uint8_t *digest)
{
	static const char label[] = "criu-encrypt v2 checkpoint";
	uint8_t m[512], head[8], fmt[4] = { ce->format >> 24, ce->format >> 16, ce->format >> 8, ce->format }, *e;
	struct sha256_ctx h;

	e = put_field(m, fmt, sizeof(fmt));
	e = put_field(e, ce->id.data, ce->id.len);
	e = put_field(e, ce->stream, strlen(ce->stream));
	e = put_field(e, ce->pages, strlen(ce->pages));
	if (ce->has_parent)
		e = put_field(e, ce->parent.data, ce->parent.len);
	sha256_init(&h);
	sha256_update(&h, sizeof(label), (const uint8_t *)label); /* its 0x00 too */
	put_be64(head, e - m);
	sha256_update(&h, sizeof(head), head);
	sha256_update(&h, e - m, m);
	sha256_update(&h, ce->mac.len, ce->mac.data);
	put_be64(head, len);
	sha256_update(&h, sizeof(head), head);
	sha256_update(&h, len, manifest);
	sha256_digest(&h, SHA256_DIGEST_SIZE, digest);
}

static int cmd_make(const char *dir, const char *cert)
{
	static uint8_t plain[STREAM_LEN], pages[NR_PAGES * CRYPT_PAGE_SIZE];
	uint8_t key[CRYPT_KEY_LEN], k2[2 * CRYPT_KEY_LEN], prk[CRYPT_KEY_LEN], salt[CRYPT_NONCE_LEN];
	uint8_t tags[NR_PAGES * CRYPT_TAG_LEN], iv[CRYPT_IV_LEN], tweak[16], gnonce[12], h[32], *buf;
	uint32_t magic[3] = { IMG_COMMON_MAGIC, CIPHER_MAGIC };
	static const char manifest[] = PAGES_NAME "\n" CRYPT_TAGS_IMG "\n" STREAM_NAME "\n"; /* sorted */
	const char *const certs[] = { cert };
	struct crypt_stream *ts;
	struct crypt_pages *cp;
	struct crypt_ctx *ctx;
	CipherEntry ce;
	size_t len, i;
	char name[64];
	int fd, j;

	/* cipher.img: the checkpoint key is the first random bytes crypt_ctx_new() takes */
	ctx = crypt_ctx_new(certs, 1, NULL, &ce);
	if (!ctx)
		return 2;
	if (ce.n_recipients != 1 || strcmp(ce.recipients[0]->wrap, CRYPT_WRAP_RSA)) {
		fprintf(stderr, "vectors: %s is not an RSA certificate\n", cert);
		return 2;
	}
	len = cipher_entry__get_packed_size(&ce);
	buf = malloc(sizeof(magic) + len);
	magic[2] = len;
	memcpy(buf, magic, sizeof(magic));
	cipher_entry__pack(&ce, buf + sizeof(magic));
	fd = create(dir, CRYPT_CIPHER_IMG);
	if (write(fd, buf, sizeof(magic) + len) != sizeof(magic) + len)
		return 2;
	close(fd);

	for (i = 0; i < STREAM_LEN; i++)
		plain[i] = stream_byte(i);
	sealed(ctx, dir, STREAM_NAME, plain, STREAM_LEN);
	for (j = 0; j < NR_PAGES; j++)
		for (i = 0; i < CRYPT_PAGE_SIZE; i++)
			pages[j * CRYPT_PAGE_SIZE + i] = page_byte(j, i);
	crypt_random(salt, sizeof(salt));
	cp = crypt_pages_new(ctx, PAGES_NAME, salt);
	if (!cp || crypt_pages_seal(cp, 0, pages, NR_PAGES, tags))
		return 2;
	fd = create(dir, PAGES_NAME);
	if (write(fd, pages, sizeof(pages)) != sizeof(pages))
		return 2;
	close(fd);
	fd = create(dir, CRYPT_TAGS_IMG);
	ts = crypt_stream_open_write(ctx, fd, CRYPT_TAGS_IMG);
	if (!ts || crypt_tags_record(ts, PAGES_NAME, salt, tags, NR_PAGES) || crypt_stream_close_write(ts))
		return 2;
	crypt_stream_free(ts);
	close(fd);
	sealed(ctx, dir, CRYPT_MANIFEST_IMG, manifest, strlen(manifest));

	/* the values: K is the first 32 bytes of the generator */
	printf("# Made by test/vectors/vectors.c (make); checked by 'vectors check' and check.py.\n");
	printf("# Hex strings; every value is derived again from the files of ckpt/ and key.pem.\n");
	{
		/* the generator again from its start: SHA-256(seed || 0) */
		static const char seed[] = "criu-encrypt test vectors";
		uint32_t zero = 0;
		struct sha256_ctx hc;

		sha256_init(&hc);
		sha256_update(&hc, sizeof(seed) - 1, (const uint8_t *)seed);
		sha256_update(&hc, sizeof(zero), (const uint8_t *)&zero);
		sha256_digest(&hc, sizeof(key), key);
	}
	put_hex(stdout, "K", key, sizeof(key));
	put_hex(stdout, "ID", ce.id.data, ce.id.len);
	crypt_hkdf_extract(ce.id.data, ce.id.len, key, sizeof(key), prk);
	put_hex(stdout, "PRK", prk, sizeof(prk));
	crypt_derive(ctx, CRYPT_LABEL_CIPHER, NULL, 0, k2, CRYPT_KEY_LEN);
	put_hex(stdout, "mac_key", k2, CRYPT_KEY_LEN);
	put_hex(stdout, "recipient", ce.recipients[0]->key_id.data, ce.recipients[0]->key_id.len);
	put_hex(stdout, "mac", ce.mac.data, ce.mac.len);
	buf = file(dir, CRYPT_MANIFEST_IMG, &len);
	crypt_checkpoint_digest(&ce, buf, len, h);
	put_hex(stdout, "digest", h, sizeof(h));
	free(buf);

	buf = file(dir, STREAM_NAME, &len);
	printf("stream.name = %s\n", STREAM_NAME);
	put_hex(stdout, "stream.N", buf + CRYPT_MAGIC_LEN, CRYPT_NONCE_LEN);
	crypt_derive_named(ctx, CRYPT_LABEL_STREAM, buf + CRYPT_MAGIC_LEN, STREAM_NAME, k2, CRYPT_KEY_LEN);
	put_hex(stdout, "stream.key", k2, CRYPT_KEY_LEN);
	for (i = 0; i < 2; i++) {
		size_t end = i ? len : CRYPT_HDR_LEN + CRYPT_CHUNK + CRYPT_TAG_LEN;

		chunk_nonce(i, i == 1, iv);
		snprintf(name, sizeof(name), "stream.chunk%zu.nonce", i);
		put_hex(stdout, name, iv, sizeof(iv));
		snprintf(name, sizeof(name), "stream.chunk%zu.tag", i);
		put_hex(stdout, name, buf + end - CRYPT_TAG_LEN, CRYPT_TAG_LEN);
	}
	printf("stream.length = %d\n", STREAM_LEN);
	sha256(plain, STREAM_LEN, h);
	put_hex(stdout, "stream.plaintext.sha256", h, sizeof(h));

	printf("pages.name = %s\n", PAGES_NAME);
	put_hex(stdout, "pages.salt", salt, sizeof(salt));
	crypt_derive_named(ctx, CRYPT_LABEL_XTS, salt, PAGES_NAME, k2, sizeof(k2));
	put_hex(stdout, "pages.Kx", k2, sizeof(k2));
	crypt_derive_named(ctx, CRYPT_LABEL_TAG, salt, PAGES_NAME, k2, CRYPT_KEY_LEN);
	put_hex(stdout, "pages.Kt", k2, CRYPT_KEY_LEN);
	for (j = 0; j < NR_PAGES; j++) {
		page_nonces(j, tweak, gnonce);
		snprintf(name, sizeof(name), "page%d.tweak", j);
		put_hex(stdout, name, tweak, sizeof(tweak));
		snprintf(name, sizeof(name), "page%d.gmac_nonce", j);
		put_hex(stdout, name, gnonce, sizeof(gnonce));
		snprintf(name, sizeof(name), "page%d.tag", j);
		put_hex(stdout, name, tags + j * CRYPT_TAG_LEN, CRYPT_TAG_LEN);
		sha256(pages + j * CRYPT_PAGE_SIZE, CRYPT_PAGE_SIZE, h);
		snprintf(name, sizeof(name), "page%d.ciphertext.sha256", j);
		put_hex(stdout, name, h, sizeof(h));
	}
	printf("manifest.plaintext = ");
	for (i = 0; manifest[i]; i++)
		printf(manifest[i] == '\n' ? "\\n" : "%c", manifest[i]);
	printf("\n");
	{
		uint8_t rec[1 + sizeof(PAGES_NAME) - 1 + CRYPT_NONCE_LEN + 4 + sizeof(tags)];
		size_t l = strlen(PAGES_NAME);

		rec[0] = l;
		memcpy(rec + 1, PAGES_NAME, l);
		memcpy(rec + 1 + l, salt, CRYPT_NONCE_LEN);
		memset(rec + 1 + l + CRYPT_NONCE_LEN, 0, 3);
		rec[1 + l + CRYPT_NONCE_LEN + 3] = NR_PAGES;
		memcpy(rec + 1 + l + CRYPT_NONCE_LEN + 4, tags, sizeof(tags));
		put_hex(stdout, "pagetags.plaintext", rec, sizeof(rec));
	}
	{
		uint8_t page[CRYPT_PAGE_SIZE], tag[CRYPT_TAG_LEN], kt[CRYPT_KEY_LEN];

		if (lazy_page(ctx, page, tag, k2, kt))
			return 1;
		printf("lazy.name = %s\n", LAZY_NAME);
		printf("lazy.address = %llx\n", LAZY_ADDR);
		put_hex(stdout, "lazy.Kx", k2, sizeof(k2));
		put_hex(stdout, "lazy.Kt", kt, sizeof(kt));
		page_nonces(LAZY_ADDR / CRYPT_PAGE_SIZE, tweak, gnonce);
		put_hex(stdout, "lazy.tweak", tweak, sizeof(tweak));
		put_hex(stdout, "lazy.gmac_nonce", gnonce, sizeof(gnonce));
		put_hex(stdout, "lazy.tag", tag, sizeof(tag));
		sha256(page, CRYPT_PAGE_SIZE, h);
		put_hex(stdout, "lazy.ciphertext.sha256", h, sizeof(h));
	}
	crypt_pages_free(cp);
	crypt_entry_free(&ce);
	crypt_ctx_free(ctx);
	return 0;
}

/* VECTORS as name = value pairs */
static char names[64][64], values[64][8200];
static int nr_values;

static const char *value(const char *name)
{
	int i;

	for (i = 0; i < nr_values; i++)
		if (!strcmp(names[i], name))
			return values[i];
	fprintf(stderr, "vectors: no %s\n", name);
	exit(2);
}

static void load(const char *path)
{
	char line[8300];
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f) && nr_values < 64)
		if (line[0] != '#' && sscanf(line, "%63s = %8199[^\n]", names[nr_values], values[nr_values]) == 2)
			nr_values++;
	fclose(f);
}

static int same(const char *name, const uint8_t *p, size_t len)
{
	const char *want = value(name);
	char hex[2 * 4096 + 1];
	size_t i;

	for (i = 0; i < len && i < 4096; i++)
		sprintf(hex + 2 * i, "%02x", p[i]);
	hex[2 * i] = '\0';
	return !strcmp(hex, want);
}

static int cmd_check(const char *dir, const char *key_path, const char *vectors)
{
	uint8_t k[CRYPT_KEY_LEN], k2[2 * CRYPT_KEY_LEN], prk[CRYPT_KEY_LEN], iv[CRYPT_IV_LEN], tag[CRYPT_TAG_LEN];
	uint8_t tweak[16], gnonce[12], h[32], h2[32], kid[CRYPT_HASH_LEN], *cipher, *stream, *pages, *plain, *man;
	const uint8_t *salt, *tags;
	gnutls_x509_privkey_t key;
	struct crypt_tagset *ts = NULL;
	struct crypt_stream *s;
	struct crypt_pages *cp;
	struct crypt_ctx *ctx, mine = {};
	size_t clen, slen, plen, mlen, i;
	CipherEntry *ce;
	char name[64];
	uint64_t nr;
	int fd, j, ok;

	load(vectors);
	cipher = file(dir, CRYPT_CIPHER_IMG, &clen);
	ce = crypt_cipher_parse(cipher, clen, CRYPT_CIPHER_IMG);
	ctx = ce ? crypt_ctx_open(ce, key_path, CRYPT_CIPHER_IMG) : NULL;
	result(ctx != NULL, "vectors: cipher.img opens with the key (unwrap, MAC)");
	if (!ctx)
		return 1;
	ok = !crypt_key_load(key_path, &key);
	if (ok) {
		ok = !crypt_key_id(key, kid);
		gnutls_x509_privkey_deinit(key);
	}
	result(ok && ce->format == CRYPT_FORMAT && ce->n_recipients == 1 &&
		       !strcmp(ce->recipients[0]->wrap, CRYPT_WRAP_RSA) && !ce->recipients[0]->has_ephemeral &&
		       !memcmp(ce->recipients[0]->key_id.data, kid, sizeof(kid)) && !ce->has_parent,
	       "vectors: cipher.img is of format 2, for one RSA recipient: the key's, no parent");
	result(same("ID", ce->id.data, ce->id.len) &&
		       same("recipient", ce->recipients[0]->key_id.data, ce->recipients[0]->key_id.len) &&
		       same("mac", ce->mac.data, ce->mac.len),
	       "vectors: ID, recipient (its key_id) and mac are those of cipher.img");
	man = file(dir, CRYPT_MANIFEST_IMG, &mlen);
	crypt_checkpoint_digest(ce, man, mlen, h);
	spec_digest(ce, man, mlen, h2);
	result(same("digest", h, sizeof(h)) && !memcmp(h, h2, sizeof(h)),
	       "vectors: digest is the checkpoint's, of cipher.img and manifest.img (criu's and section 9's)");
	free(man);
	for (i = 0; i < CRYPT_KEY_LEN; i++)
		sscanf(value("K") + 2 * i, "%2hhx", &k[i]);
	crypt_hkdf_extract(ce->id.data, ce->id.len, k, sizeof(k), prk);
	memcpy(mine.id, ce->id.data, CRYPT_ID_LEN);
	crypt_ctx_key(&mine, k);
	crypt_derive(ctx, CRYPT_LABEL_CIPHER, NULL, 0, k2, CRYPT_KEY_LEN);
	crypt_derive(&mine, CRYPT_LABEL_CIPHER, NULL, 0, k2 + CRYPT_KEY_LEN, CRYPT_KEY_LEN);
	result(same("PRK", prk, sizeof(prk)) && same("mac_key", k2, CRYPT_KEY_LEN) &&
		       !memcmp(k2, k2 + CRYPT_KEY_LEN, CRYPT_KEY_LEN),
	       "vectors: K is the unwrapped key: PRK and the MAC key derived from it");

	stream = file(dir, STREAM_NAME, &slen);
	crypt_derive_named(ctx, CRYPT_LABEL_STREAM, stream + CRYPT_MAGIC_LEN, STREAM_NAME, k2, CRYPT_KEY_LEN);
	result(!memcmp(stream, CRYPT_MAGIC, CRYPT_MAGIC_LEN) && same("stream.N", stream + CRYPT_MAGIC_LEN, 16) &&
		       same("stream.key", k2, CRYPT_KEY_LEN),
	       "vectors: the stream's magic, N and key");
	plain = malloc(STREAM_LEN + 1);
	for (i = 0; i < STREAM_LEN; i++)
		plain[i] = stream_byte(i);
	ok = atoi(value("stream.length")) == STREAM_LEN;
	for (i = 0; i < 2; i++) {
		size_t off = i * CRYPT_CHUNK, n = i ? STREAM_LEN - CRYPT_CHUNK : CRYPT_CHUNK;
		size_t end = i ? slen : CRYPT_HDR_LEN + CRYPT_CHUNK + CRYPT_TAG_LEN;
		uint8_t *c = malloc(n);

		chunk_nonce(i, i == 1, iv);
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(c, tag, NULL, plain + off, n, NULL, 0, NULL, iv, k2);
		snprintf(name, sizeof(name), "stream.chunk%zu.nonce", i);
		ok &= same(name, iv, sizeof(iv));
		snprintf(name, sizeof(name), "stream.chunk%zu.tag", i);
		ok &= same(name, tag, sizeof(tag)) && !memcmp(stream + end - CRYPT_TAG_LEN, tag, CRYPT_TAG_LEN) &&
		      !memcmp(stream + CRYPT_HDR_LEN + i * (CRYPT_CHUNK + CRYPT_TAG_LEN), c, n);
		free(c);
	}
	result(ok, "vectors: both chunks: nonce, ciphertext and tag of ChaCha20-Poly1305 under the stream key");
	fd = open(dir, O_RDONLY);
	fd = openat(fd, STREAM_NAME, O_RDONLY);
	s = crypt_stream_open_read(ctx, fd, STREAM_NAME);
	ok = s && crypt_stream_size(s) == STREAM_LEN && crypt_stream_read(s, plain, STREAM_LEN + 1) == STREAM_LEN;
	sha256(plain, STREAM_LEN, h);
	result(ok && same("stream.plaintext.sha256", h, sizeof(h)), "vectors: the stream opens to the plaintext");
	crypt_stream_free(s);
	close(fd);

	fd = openat(open(dir, O_RDONLY), CRYPT_TAGS_IMG, O_RDONLY);
	s = crypt_stream_open_read(ctx, fd, CRYPT_TAGS_IMG);
	ok = s && !crypt_tags_load(&ts, s, CRYPT_TAGS_IMG) && crypt_tags_find(ts, PAGES_NAME, &salt, &tags, &nr) &&
	     nr == NR_PAGES && same("pages.salt", salt, CRYPT_NONCE_LEN);
	result(ok, "vectors: pagetags.img holds the salt and the tags of %s", PAGES_NAME);
	crypt_stream_free(s);
	if (!ok)
		return 1;
	crypt_derive_named(ctx, CRYPT_LABEL_XTS, salt, PAGES_NAME, k2, sizeof(k2));
	ok = same("pages.Kx", k2, sizeof(k2));
	crypt_derive_named(ctx, CRYPT_LABEL_TAG, salt, PAGES_NAME, k2, CRYPT_KEY_LEN);
	result(ok && same("pages.Kt", k2, CRYPT_KEY_LEN), "vectors: the page keys Kx and Kt");
	pages = file(dir, PAGES_NAME, &plen);
	ok = plen == NR_PAGES * CRYPT_PAGE_SIZE;
	for (j = 0; ok && j < NR_PAGES; j++) {
		page_nonces(j, tweak, gnonce);
		snprintf(name, sizeof(name), "page%d.tweak", j);
		ok &= same(name, tweak, sizeof(tweak));
		snprintf(name, sizeof(name), "page%d.gmac_nonce", j);
		ok &= same(name, gnonce, sizeof(gnonce));
		snprintf(name, sizeof(name), "page%d.tag", j);
		ok &= same(name, tags + j * CRYPT_TAG_LEN, CRYPT_TAG_LEN);
		sha256(pages + j * CRYPT_PAGE_SIZE, CRYPT_PAGE_SIZE, h);
		snprintf(name, sizeof(name), "page%d.ciphertext.sha256", j);
		ok &= same(name, h, sizeof(h));
	}
	cp = crypt_pages_new(ctx, PAGES_NAME, salt);
	ok &= cp && !crypt_pages_open(cp, 0, pages, NR_PAGES, tags);
	for (j = 0; ok && j < NR_PAGES; j++)
		for (i = 0; i < CRYPT_PAGE_SIZE; i++)
			ok &= pages[j * CRYPT_PAGE_SIZE + i] == page_byte(j, i);
	result(ok, "vectors: both pages: tweak, GMAC nonce, tag and ciphertext; they open to the plaintext");
	crypt_pages_free(cp);
	{
		uint8_t page[CRYPT_PAGE_SIZE], kt[CRYPT_KEY_LEN];

		ok = !lazy_page(ctx, page, tag, k2, kt) && same("lazy.Kx", k2, sizeof(k2)) &&
		     same("lazy.Kt", kt, sizeof(kt)) && same("lazy.tag", tag, sizeof(tag));
		page_nonces(LAZY_ADDR / CRYPT_PAGE_SIZE, tweak, gnonce);
		sha256(page, CRYPT_PAGE_SIZE, h);
		ok &= same("lazy.tweak", tweak, sizeof(tweak)) && same("lazy.gmac_nonce", gnonce, sizeof(gnonce)) &&
		      same("lazy.ciphertext.sha256", h, sizeof(h));
		cp = crypt_pages_new(ctx, LAZY_NAME, (const uint8_t[CRYPT_NONCE_LEN]){});
		ok &= cp && !crypt_pages_open(cp, LAZY_ADDR / CRYPT_PAGE_SIZE, page, 1, tag);
		for (i = 0; ok && i < CRYPT_PAGE_SIZE; i++)
			ok &= page[i] == page_byte(2, i);
		crypt_pages_free(cp);
		result(ok, "vectors: a lazy page of a dump --lazy-pages: keys, tweak, GMAC nonce, tag and ciphertext");
	}
	crypt_tags_free(ts);
	cipher_entry__free_unpacked(ce, NULL);
	crypt_ctx_free(ctx);
	return stub_failed;
}

int main(int argc, char **argv)
{
	if (crypt_init())
		return 2;
	if (argc == 4 && !strcmp(argv[1], "make"))
		return cmd_make(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "check"))
		return cmd_check(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: vectors make DIR CERT | vectors check DIR KEY VECTORS\n");
	return 2;
}
