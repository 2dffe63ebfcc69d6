/*
 * Unit tests of the encryption module (criu/crypt-*.c), linked against the
 * module itself (make unit).  Prints one "ok - ..." or
 * "not ok - ..." line per check.
 *
 *   crypt-unit kat VECTORS_DIR    known answers from python3-cryptography-vectors:
 *                                 ChaCha20-Poly1305 (RFC 8439 and others),
 *                                 the module's HKDF-SHA256 (RFC 5869), its
 *                                 RSA-OAEP-SHA256, the ECDH of its EC wrap
 *                                 (NIST KAS ECC, P-256 and P-384), its page
 *                                 cipher: XTS (NIST XTSGenAES256) and GMAC
 *                                 (NIST GCM)
 *   crypt-unit stream DIR         framing of the authenticated stream
 *   crypt-unit pages              the page cipher: round trips, tampering
 *   crypt-unit new OUT PARENT CERT...
 *                                 write the cipher.img of a new checkpoint
 *                                 for the certificates to OUT (PARENT: the
 *                                 parent's digest in hex, or -), print the
 *                                 key derived for "core-1.img" and nonce 0
 *                                 (for a cross-check with Python)
 *   crypt-unit open KEY CIPHER    open a cipher.img made elsewhere, print
 *                                 that key
 *   crypt-unit digest CIPHER MANIFEST
 *                                 print the checkpoint's digest
 *   crypt-unit norandom CERT...   without random bytes: no checkpoint, and
 *                                 each certificate's wrap fails
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gmp.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/bignum.h>
#include <nettle/rsa.h>
#include <sodium.h>

#include "crypt-private.h"
#include "magic.h"
#include "stub.h"
#include "images/cipher.pb-c.h"

/* test/unit/stub.c: no log while it is set (failures a test expects) */
extern bool stub_log_quiet;

/* gnutls_rnd() as the module calls it, made to fail on demand */
static int fail_rnd;

int gnutls_rnd(gnutls_rnd_level_t level, void *data, size_t len)
{
	static int (*real)(gnutls_rnd_level_t, void *, size_t);

	if (fail_rnd)
		return GNUTLS_E_RANDOM_FAILED;
	if (!real)
		real = dlsym(RTLD_NEXT, "gnutls_rnd");
	return real(level, data, len);
}

/* Hex to bytes; an odd number of digits is read as if a 0 led them. */
static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t digits = strspn(s, "0123456789abcdefABCDEF"), n = 0;

	if (digits % 2 && max) {
		sscanf(s, "%1hhx", &out[n++]);
		s++;
		digits--;
	}
	for (; digits && n < max; digits -= 2, s += 2)
		sscanf(s, "%2hhx", &out[n++]);
	return n;
}

static void hex(const uint8_t *p, size_t len)
{
	while (len--)
		printf("%02x", *p++);
}

static char *trim(char *s)
{
	char *e = s + strlen(s);

	while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' '))
		*--e = '\0';
	while (*s == ' ')
		s++;
	return s;
}

/* "Name = value" records, each starting at its "COUNT = n" line */
struct record {
	char name[16][32];
	char *value[16];
	int n;
};

/* The value of the first of the names given ("a|b|c") that the record has */
static const char *rec_get(struct record *r, const char *names)
{
	char buf[128], *name, *save;
	int i;

	snprintf(buf, sizeof(buf), "%s", names);
	for (name = strtok_r(buf, "|", &save); name; name = strtok_r(NULL, "|", &save))
		for (i = 0; i < r->n; i++)
			if (!strcasecmp(r->name[i], name))
				return r->value[i];
	return NULL;
}

/* a hex field, or a "quoted string" as boringssl's vectors have */
static size_t rec_bytes(struct record *r, const char *names, uint8_t *out, size_t max)
{
	const char *v = rec_get(r, names) ?: "";
	size_t len;

	if (*v != '"')
		return unhex(v, out, max);
	len = strlen(v + 1);
	if (len && v[len] == '"')
		len--;
	len = len < max ? len : max;
	memcpy(out, v + 1, len);
	return len;
}

static void rec_add(struct record *r, char *s)
{
	char *eq = strchr(s, '=');

	if (!eq || r->n == 16)
		return;
	*eq = '\0';
	snprintf(r->name[r->n], sizeof(r->name[0]), "%s", trim(s));
	r->value[r->n++] = strdup(trim(eq + 1));
}

static int next_record(FILE *f, struct record *r)
{
	static char *line;
	static size_t cap;
	int i;

	for (i = 0; i < r->n; i++)
		free(r->value[i]);
	r->n = 0;
	if (line && !strncasecmp(line, "COUNT", 5))
		rec_add(r, line); /* the line that ended the previous record */
	while (getline(&line, &cap, f) > 0) {
		char *s = trim(line);

		if (!*s || *s == '#' || *s == '[')
			continue;
		if (!strncasecmp(s, "COUNT", 5) && r->n) {
			memmove(line, s, strlen(s) + 1);
			return 1;
		}
		rec_add(r, s);
	}
	line[0] = '\0';
	return r->n > 0;
}

static FILE *open_vectors(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		result(0, "vectors %s: can't open %s", name, path);
	return f;
}

/* ChaCha20-Poly1305 through the very call crypt-stream.c makes */
static void kat_chacha(const char *dir, const char *file)
{
	static uint8_t key[64], iv[64], aad[1024], pt[4096], ct[4096], tag[64], out[4096];
	int count = 0, bad = 0;
	struct record r = {};
	FILE *f = open_vectors(dir, file);

	if (!f)
		return;
	while (next_record(f, &r)) {
		const char *res = rec_get(&r, "Result");
		size_t klen, ivlen, alen, plen, clen, tlen;
		int fail_expected = res && strstr(res, "ERROR");

		if (!rec_get(&r, "Key") || !rec_get(&r, "IV|NONCE") || !rec_get(&r, "Tag"))
			continue;
		klen = rec_bytes(&r, "Key", key, sizeof(key));
		ivlen = rec_bytes(&r, "IV|NONCE", iv, sizeof(iv));
		alen = rec_bytes(&r, "AAD|AD", aad, sizeof(aad));
		plen = rec_bytes(&r, "Plaintext|IN", pt, sizeof(pt));
		clen = rec_bytes(&r, "Ciphertext|CT", ct, sizeof(ct));
		tlen = rec_bytes(&r, "Tag", tag, sizeof(tag));
		if (klen != 32 || ivlen != 12 || tlen != 16 || plen != clen)
			continue; /* another variant (e.g. XChaCha, short tags) */
		count++;
		if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, ct, clen, tag, aad, alen, iv, key)) {
			bad |= !fail_expected;
			continue;
		}
		bad |= fail_expected || memcmp(out, pt, plen);
		if (!fail_expected) {
			uint8_t t2[16];

			crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, t2, NULL, pt, plen, aad, alen, NULL, iv,
									   key);
			bad |= memcmp(out, ct, clen) || memcmp(t2, tag, 16);
		}
	}
	fclose(f);
	result(count > 0 && !bad, "ChaCha20-Poly1305 known answers of %s (%d vectors)", file, count);
}

static void kat_hkdf(const char *dir)
{
	uint8_t ikm[256], salt[256], info[256], prk[32], want_prk[32], want[256], out[256];
	int count = 0, bad = 0;
	struct record r = {};
	FILE *f = open_vectors(dir, "KDF/rfc-5869-HKDF-SHA256.txt");

	if (!f)
		return;
	while (next_record(f, &r)) {
		size_t ilen, slen, nlen, olen;

		if (!rec_get(&r, "OKM") || !rec_get(&r, "PRK"))
			continue;
		ilen = unhex(rec_get(&r, "IKM"), ikm, sizeof(ikm));
		slen = unhex(rec_get(&r, "salt") ?: "", salt, sizeof(salt));
		nlen = unhex(rec_get(&r, "info") ?: "", info, sizeof(info));
		unhex(rec_get(&r, "PRK"), want_prk, sizeof(want_prk));
		olen = unhex(rec_get(&r, "OKM"), want, sizeof(want));
		count++;
		/* RFC 5869: an absent salt is HashLen zeros */
		if (!slen) {
			memset(salt, 0, 32);
			slen = 32;
		}
		crypt_hkdf_extract(salt, slen, ikm, ilen, prk);
		crypt_hkdf_expand(prk, info, nlen, out, olen);
		bad |= memcmp(prk, want_prk, 32) || memcmp(out, want, olen);
	}
	fclose(f);
	result(count > 0 && !bad, "HKDF-SHA256 known answers of RFC 5869 (%d vectors)", count);
}

/* RSA-OAEP-SHA256 decryption of the vectors' ciphertexts with their keys */
static void kat_oaep(const char *dir)
{
	const char *file = "asymmetric/RSA/oaep-custom/oaep-sha256-sha256.txt";
	char *line = NULL, field[64] = "";
	uint8_t buf[1024], msg[1024], want[1024];
	size_t cap = 0, len, want_len = 0;
	int count = 0, bad = 0, priv_section = 0;
	struct rsa_public_key pub;
	struct rsa_private_key priv;
	FILE *f = open_vectors(dir, file);

	if (!f)
		return;
	rsa_public_key_init(&pub);
	rsa_private_key_init(&priv);
	while (getline(&line, &cap, f) > 0) {
		char *s = trim(line);

		if (!strncmp(s, "# ", 2)) {
			if (!strcmp(s, "# Private key"))
				priv_section = 1;
			else if (!strcmp(s, "# Public key"))
				priv_section = 0;
			if (s[strlen(s) - 1] == ':')
				snprintf(field, sizeof(field), "%s", s + 2);
			continue;
		}
		if (!*s || *s == '#')
			continue;
		len = unhex(s, buf, sizeof(buf));
		if (priv_section && !strcmp(field, "Modulus:"))
			nettle_mpz_set_str_256_u(pub.n, len, buf);
		else if (priv_section && !strcmp(field, "Public exponent:"))
			nettle_mpz_set_str_256_u(pub.e, len, buf);
		else if (!strcmp(field, "Prime 1:"))
			nettle_mpz_set_str_256_u(priv.p, len, buf);
		else if (!strcmp(field, "Prime 2:"))
			nettle_mpz_set_str_256_u(priv.q, len, buf);
		else if (!strcmp(field, "Prime exponent 1:"))
			nettle_mpz_set_str_256_u(priv.a, len, buf);
		else if (!strcmp(field, "Prime exponent 2:"))
			nettle_mpz_set_str_256_u(priv.b, len, buf);
		else if (!strcmp(field, "Coefficient:")) {
			nettle_mpz_set_str_256_u(priv.c, len, buf);
			bad |= !rsa_public_key_prepare(&pub) || !rsa_private_key_prepare(&priv);
		} else if (!strcmp(field, "Message:")) {
			memcpy(want, buf, len);
			want_len = len;
		} else if (!strcmp(field, "Encryption:")) {
			size_t mlen = sizeof(msg);

			count++;
			if (crypt_oaep_decrypt(&pub, &priv, buf, len, msg, &mlen) || mlen != want_len ||
			    memcmp(msg, want, mlen))
				bad = 1;
			/* and the same ciphertext with one bit flipped is refused */
			buf[len / 2] ^= 1;
			mlen = sizeof(msg);
			if (!crypt_oaep_decrypt(&pub, &priv, buf, len, msg, &mlen))
				bad = 1;
			/* our own encryption round-trips with the same key */
			if (crypt_oaep_encrypt(&pub, want, want_len, buf) ||
			    (mlen = sizeof(msg), crypt_oaep_decrypt(&pub, &priv, buf, pub.size, msg, &mlen)) ||
			    mlen != want_len || memcmp(msg, want, mlen))
				bad = 1;
		}
		field[0] = '\0';
	}
	free(line);
	fclose(f);
	result(count > 0 && !bad, "RSA-OAEP-SHA256 known answers, tampering and round trips (%d vectors)", count);
	/* without randomness for RSA blinding the unwrap fails: no fallback */
	if (count && !crypt_oaep_encrypt(&pub, want, want_len, buf)) {
		size_t mlen = sizeof(msg);
		int ret;

		fail_rnd = 1;
		stub_log_quiet = true;
		ret = crypt_oaep_decrypt(&pub, &priv, buf, pub.size, msg, &mlen);
		stub_log_quiet = false;
		fail_rnd = 0;
		result(ret != 0, "RSA-OAEP: no random bytes for blinding, and the unwrap fails");
	}
	rsa_public_key_clear(&pub);
	rsa_private_key_clear(&priv);
}

static struct crypt_ctx *test_ctx(void)
{
	static struct crypt_ctx ctx;
	uint8_t key[CRYPT_KEY_LEN];

	randombytes_buf(ctx.id, sizeof(ctx.id));
	randombytes_buf(key, sizeof(key));
	crypt_ctx_key(&ctx, key);
	return &ctx;
}

/* Write len pseudo-random bytes to DIR/name through the stream, as pieces of odd sizes. */
static int stream_write_file(struct crypt_ctx *ctx, const char *dir, const char *name, const uint8_t *data,
			     size_t len)
{
	struct crypt_stream *s;
	char path[4096];
	size_t off = 0, piece = 1;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	s = crypt_stream_open_write(ctx, fd, name);
	if (!s) {
		close(fd);
		return -1;
	}
	while (off < len && !ret) {
		size_t n = piece < len - off ? piece : len - off;

		ret = crypt_stream_write(s, data + off, n);
		off += n;
		piece = piece * 7 + 3;
	}
	ret |= crypt_stream_close_write(s);
	crypt_stream_free(s);
	close(fd);
	return ret;
}

/* Read DIR/path back as name; 0 if it authenticates and equals data. */
static int stream_read_file(struct crypt_ctx *ctx, const char *dir, const char *path, const char *name,
			    const uint8_t *data, size_t len)
{
	struct crypt_stream *s;
	char full[4096];
	uint8_t *buf = malloc(len + 1);
	size_t got = 0;
	ssize_t n;
	int fd, ret = -1;

	snprintf(full, sizeof(full), "%s/%s", dir, path);
	fd = open(full, O_RDONLY);
	if (fd < 0 || !buf)
		goto out;
	s = crypt_stream_open_read(ctx, fd, name);
	if (!s)
		goto out;
	if (crypt_stream_size(s) != (off_t)len)
		goto out_s;
	while ((n = crypt_stream_read(s, buf + got, (len + 1 - got) < 5000 ? len + 1 - got : 5000)) > 0)
		got += n;
	if (n == 0 && got == len && !memcmp(buf, data, len))
		ret = 0;
out_s:
	crypt_stream_free(s);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

static int file_op(const char *dir, const char *name, const char *op, off_t off)
{
	char path[4096], cmd[8300];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!strcmp(op, "flip")) {
		uint8_t b;
		int fd = open(path, O_RDWR);

		if (fd < 0 || pread(fd, &b, 1, off) != 1)
			return -1;
		b ^= 0x01;
		pwrite(fd, &b, 1, off);
		return close(fd);
	}
	if (!strcmp(op, "truncate"))
		return truncate(path, off);
	if (!strcmp(op, "extend")) {
		snprintf(cmd, sizeof(cmd), "head -c %lld %s >> %s", (long long)off, path, path);
		return system(cmd);
	}
	return -1;
}

static void stream_tests(const char *dir)
{
	const size_t C = CRYPT_CHUNK, T = CRYPT_TAG_LEN;
	size_t sizes[] = { 0, 1, 2, C - 1, C, C + 1, 2 * C, 3 * C + 17 }, i;
	struct crypt_ctx *ctx = test_ctx(), *other = test_ctx();
	static struct crypt_ctx ctx_copy;
	uint8_t *data = malloc(3 * C + 17);
	char cmd[8300];
	int bad;

	ctx_copy = *ctx;
	ctx = &ctx_copy;
	other = test_ctx();
	randombytes_buf(data, 3 * C + 17);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], chunks = n ? (n + C - 1) / C : 1;
		char name[32];
		struct stat st;

		snprintf(name, sizeof(name), "img-%zu.img", n);
		bad = stream_write_file(ctx, dir, name, data, n) || stream_read_file(ctx, dir, name, name, data, n);
		snprintf(cmd, sizeof(cmd), "%s/%s", dir, name);
		bad |= stat(cmd, &st) || (size_t)st.st_size != CRYPT_HDR_LEN + n + chunks * T;
		result(!bad, "stream: %zu bytes round-trip in %zu chunk(s), %zu bytes of overhead", n, chunks,
		       (size_t)st.st_size - n);
	}

	/* tampering with a 3-chunk image */
	{
		const size_t n = 2 * C + 100, f = CRYPT_HDR_LEN + C + T; /* offset of chunk 1 */
		const char *nm = "t.img";
		struct {
			const char *what, *op;
			off_t off;
		} cases[] = {
			{ "a flipped header byte", "flip", 3 },
			{ "a flipped nonce byte", "flip", CRYPT_MAGIC_LEN + 1 },
			{ "a flipped byte of the first chunk", "flip", CRYPT_HDR_LEN + 5 },
			{ "a flipped tag byte of a middle chunk", "flip", f + C + 3 },
			{ "a flipped byte of the last chunk", "flip", f + C + T + 50 },
			{ "truncation at a chunk boundary", "truncate", f + C + T },
			{ "truncation inside the last chunk", "truncate", f + C + T + 60 },
			{ "truncation to the header", "truncate", CRYPT_HDR_LEN },
			{ "a whole chunk added at the end", "extend", C + T },
			{ "one byte added at the end", "extend", 1 },
		};

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			bad = stream_write_file(ctx, dir, nm, data, n) || stream_read_file(ctx, dir, nm, nm, data, n);
			bad |= file_op(dir, nm, cases[i].op, cases[i].off) != 0;
			bad |= !stream_read_file(ctx, dir, nm, nm, data, n);
			result(!bad, "stream: %s is refused", cases[i].what);
		}

		/* two chunks swapped */
		bad = stream_write_file(ctx, dir, nm, data, 3 * C);
		snprintf(cmd, sizeof(cmd),
			 "cd %s && dd if=t.img of=c0 bs=1 skip=%zu count=%zu status=none && "
			 "dd if=t.img of=c1 bs=1 skip=%zu count=%zu status=none && "
			 "dd if=c1 of=t.img bs=1 seek=%zu conv=notrunc status=none && "
			 "dd if=c0 of=t.img bs=1 seek=%zu conv=notrunc status=none",
			 dir, (size_t)CRYPT_HDR_LEN, C + T, (size_t)CRYPT_HDR_LEN + C + T, C + T,
			 (size_t)CRYPT_HDR_LEN, (size_t)CRYPT_HDR_LEN + C + T);
		bad |= system(cmd) != 0 || !stream_read_file(ctx, dir, nm, nm, data, 3 * C);
		result(!bad, "stream: two chunks swapped are refused");

		/* a file read under another name, or with another checkpoint's keys */
		bad = stream_write_file(ctx, dir, nm, data, 100) || stream_read_file(ctx, dir, nm, nm, data, 100);
		bad |= !stream_read_file(ctx, dir, nm, "other.img", data, 100);
		result(!bad, "stream: an image under another name is refused");
		bad = !stream_read_file(other, dir, nm, nm, data, 100);
		result(!bad, "stream: an image of another checkpoint is refused");

		/* the same plaintext twice gives unrelated files */
		bad = stream_write_file(ctx, dir, "a.img", data, 100) || stream_write_file(ctx, dir, "b.img", data, 100);
		snprintf(cmd, sizeof(cmd), "cd %s && cmp -s a.img b.img", dir);
		bad |= system(cmd) == 0;
		result(!bad, "stream: writing the same image twice gives different ciphertext");
	}
	free(data);
}

/*
 * The page cipher's AES-256-XTS, through crypt_pages_seal_quiet() and
 * crypt_pages_open(): NIST's vectors whose tweak is a data unit sequence
 * number (16 bytes little-endian, as a page's number is) and whose data
 * units are whole AES blocks.  XTS encrypts each block with the tweak and
 * its position alone, so the vector is the start of a page.
 */
static void kat_xts(const char *dir)
{
	uint8_t key[64], kt[32] = {}, pt[64], ct[64], tag[CRYPT_TAG_LEN];
	uint8_t *page = calloc(1, CRYPT_PAGE_SIZE);
	int count = 0, bad = 0;
	struct record r = {};
	FILE *f = open_vectors(dir, "ciphers/AES/XTS/tweak-dataunitseqno/XTSGenAES256.rsp");

	if (!f)
		return;
	while (next_record(f, &r)) {
		const char *bits = rec_get(&r, "DataUnitLen"), *seq = rec_get(&r, "DataUnitSeqNumber");
		struct crypt_pages *cp;
		size_t len;

		if (!bits || atoi(bits) % 128 || !seq || !rec_get(&r, "PT") || !rec_get(&r, "CT"))
			continue; /* whole AES blocks only: pages are */
		if (unhex(rec_get(&r, "Key"), key, 64) != 64)
			continue;
		len = unhex(rec_get(&r, "PT"), pt, sizeof(pt));
		unhex(rec_get(&r, "CT"), ct, sizeof(ct));
		cp = crypt_pages_with_keys(key, kt, "kat");
		if (!cp) {
			bad = 1;
			continue;
		}
		count++;
		memcpy(page, pt, len);
		bad |= crypt_pages_seal_quiet(cp, strtoull(seq, NULL, 10), page, 1, tag) || memcmp(page, ct, len);
		bad |= crypt_pages_open(cp, strtoull(seq, NULL, 10), page, 1, tag) || memcmp(page, pt, len);
		crypt_pages_free(cp);
	}
	fclose(f);
	free(page);
	result(count > 0 && !bad,
	       "page cipher: AES-256-XTS known answers of NIST XTSGenAES256 by sequence number (%d vectors, both ways)",
	       count);
}

/* The page cipher's GMAC (crypt_pages_gmac()): NIST's GCM vectors of an empty plaintext */
static void kat_gmac(const char *dir)
{
	uint8_t kx[64], key[32], iv[12], aad[1024], tag[16], out[16];
	int i, count = 0, bad = 0;
	struct record r = {};
	FILE *f = open_vectors(dir, "ciphers/AES/GCM/gcmEncryptExtIV256.rsp");

	if (!f)
		return;
	for (i = 0; i < sizeof(kx); i++)
		kx[i] = i; /* XTS wants two different halves */
	while (next_record(f, &r)) {
		struct crypt_pages *cp;
		size_t alen;

		if (!rec_get(&r, "Tag") || (rec_get(&r, "PT") && *rec_get(&r, "PT")))
			continue;
		if (unhex(rec_get(&r, "Key"), key, 32) != 32 || unhex(rec_get(&r, "IV"), iv, 12) != 12 ||
		    unhex(rec_get(&r, "Tag"), tag, 16) != 16 || strlen(rec_get(&r, "IV")) != 24 ||
		    strlen(rec_get(&r, "Tag")) != 32)
			continue;
		alen = unhex(rec_get(&r, "AAD") ?: "", aad, sizeof(aad));
		cp = crypt_pages_with_keys(kx, key, "kat");
		if (!cp) {
			bad = 1;
			continue;
		}
		count++;
		bad |= crypt_pages_gmac(cp, iv, aad, alen, out) || memcmp(out, tag, 16);
		crypt_pages_free(cp);
	}
	fclose(f);
	result(count > 0 && !bad, "page cipher: GMAC-AES-256 known answers of NIST GCM with empty plaintexts (%d vectors)",
	       count);
}

/* The page cipher as criu uses it */
static void page_tests(void)
{
	const unsigned long nr = 64;
	uint8_t salt[CRYPT_NONCE_LEN], tags[64 * CRYPT_TAG_LEN];
	uint8_t *plain = malloc(nr * CRYPT_PAGE_SIZE), *buf = malloc(nr * CRYPT_PAGE_SIZE);
	struct crypt_ctx *ctx = test_ctx();
	struct crypt_pages *cp, *other;
	int bad;

	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(plain, nr * CRYPT_PAGE_SIZE);
	memcpy(plain + 5 * CRYPT_PAGE_SIZE, plain + 4 * CRYPT_PAGE_SIZE, CRYPT_PAGE_SIZE);
	cp = crypt_pages_new(ctx, "pages-1.img", salt);
	other = crypt_pages_new(ctx, "pages-2.img", salt);
	if (!cp || !other) {
		result(0, "pages: key set-up");
		return;
	}

	memcpy(buf, plain, nr * CRYPT_PAGE_SIZE);
	bad = crypt_pages_seal(cp, 100, buf, nr, tags);
	bad |= !memcmp(buf + 4 * CRYPT_PAGE_SIZE, buf + 5 * CRYPT_PAGE_SIZE, CRYPT_PAGE_SIZE);
	result(!bad, "pages: equal plaintext pages give different ciphertext");
	bad = crypt_pages_open(cp, 100, buf, nr, tags) || memcmp(buf, plain, nr * CRYPT_PAGE_SIZE);
	result(!bad, "pages: %lu pages round-trip in place", nr);

	/* page by page, as a reader that wants one page does */
	crypt_pages_seal(cp, 100, buf, nr, tags);
	bad = crypt_pages_open(cp, 100 + 7, buf + 7 * CRYPT_PAGE_SIZE, 1, tags + 7 * CRYPT_TAG_LEN) ||
	      memcmp(buf + 7 * CRYPT_PAGE_SIZE, plain + 7 * CRYPT_PAGE_SIZE, CRYPT_PAGE_SIZE);
	result(!bad, "pages: one page opens alone");

	crypt_pages_seal(cp, 100, memcpy(buf, plain, nr * CRYPT_PAGE_SIZE), nr, tags);
	buf[3 * CRYPT_PAGE_SIZE + 17] ^= 1;
	result(crypt_pages_open(cp, 100 + 3, buf + 3 * CRYPT_PAGE_SIZE, 1, tags + 3 * CRYPT_TAG_LEN) != 0,
	       "pages: a flipped bit is refused");
	crypt_pages_seal(cp, 100, memcpy(buf, plain, nr * CRYPT_PAGE_SIZE), nr, tags);
	result(crypt_pages_open(cp, 100 + 9, buf + 8 * CRYPT_PAGE_SIZE, 1, tags + 8 * CRYPT_TAG_LEN) != 0,
	       "pages: a page moved to another position is refused");
	crypt_pages_seal(cp, 100, memcpy(buf, plain, nr * CRYPT_PAGE_SIZE), nr, tags);
	result(crypt_pages_open(other, 100, buf, 1, tags) != 0, "pages: a page of another image is refused");
	crypt_pages_free(cp);
	crypt_pages_free(other);
	free(plain);
	free(buf);
}

/* libsodium's ChaCha20-Poly1305 nonce of the EC wrap: zeros */
static const uint8_t zero_nonce[12];

/* len bytes of the hex string s, right-aligned (big-endian numbers): 0, or -1 if it is longer */
static int unhex_fixed(const char *s, uint8_t *out, size_t len)
{
	size_t digits = s ? strspn(s, "0123456789abcdefABCDEF") : 0, n = (digits + 1) / 2;

	if (!digits || n > len)
		return -1;
	memset(out, 0, len);
	unhex(s, out + len - n, n);
	return 0;
}

/*
 * The EC wrap's unwrap, crypt_ecdh_unwrap(), on NIST's ECDH primitive
 * vectors (KAS ECC, static unified, Z only) of P-256 and P-384: the
 * recipient's key is the IUT's (dsIUT, QsIUT), the ephemeral key the
 * CAVS's (QsCAVS), and the wrapped key is made here from the vector's Z,
 * as section 4 of the format says (HKDF of the module, checked above on
 * RFC 5869; libsodium's ChaCha20-Poly1305).  A correct vector must unwrap
 * to the key (and not under another checkpoint id), one whose Z was
 * changed must not unwrap, and one whose CAVS key is not a point of the
 * curve must be refused.  Vectors of a bad IUT key are not for a reader.
 */
static void kat_ecdh(const char *dir)
{
	static const char label[] = CRYPT_LABEL_ECDH;
	static const struct {
		const char *name, *wrap;
		gnutls_ecc_curve_t curve;
		size_t len;
	} curves[] = {
		{ "P-256", CRYPT_WRAP_P256, GNUTLS_ECC_CURVE_SECP256R1, 32 },
		{ "P-384", CRYPT_WRAP_P384, GNUTLS_ECC_CURVE_SECP384R1, 48 },
	};
	int right[2] = {}, changed[2] = {}, off[2] = {}, bad[2] = {}, c, i;
	struct record r = {};
	FILE *f = open_vectors(dir, "asymmetric/ECDH/KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_init.fax");

	if (!f)
		return;
	while (next_record(f, &r)) {
		uint8_t d[48], qx[48], qy[48], z[48], eph[1 + 2 * 48], kid[CRYPT_HASH_LEN], id[CRYPT_ID_LEN];
		uint8_t key[CRYPT_KEY_LEN], kek[CRYPT_KEY_LEN], prk[CRYPT_HASH_LEN], wrapped[CRYPT_KEY_LEN + 16];
		uint8_t out[CRYPT_KEY_LEN], info[sizeof(label) + 1 + 2 * 48 + CRYPT_HASH_LEN];
		const char *res = rec_get(&r, "Result"), *cx = rec_get(&r, "QsCAVSx");
		CipherRecipient rc = CIPHER_RECIPIENT__INIT;
		gnutls_datum_t dx, dy, dk;
		gnutls_x509_privkey_t k;
		size_t len, eph_len;
		int kind, ret;

		if (!res || !cx)
			continue;
		for (c = 0; c < 2 && strlen(cx) != 2 * curves[c].len; c++)
			;
		if (c == 2)
			continue; /* another curve */
		/* 0: correct, 1: Z changed, 2: the CAVS key is not a point of the curve */
		kind = res[0] == 'P' ? 0 : !strncmp(res, "F (8 ", 5) ? 1 :
		       (!strncmp(res, "F (1 ", 5) || !strncmp(res, "F (2 ", 5)) ? 2 : -1;
		if (kind < 0)
			continue;
		len = curves[c].len;
		eph_len = 1 + 2 * len;
		if (unhex_fixed(rec_get(&r, "dsIUT"), d, len) || unhex_fixed(rec_get(&r, "QsIUTx"), qx, len) ||
		    unhex_fixed(rec_get(&r, "QsIUTy"), qy, len) || unhex_fixed(rec_get(&r, "Z"), z, len) ||
		    unhex_fixed(cx, eph + 1, len) || unhex_fixed(rec_get(&r, "QsCAVSy"), eph + 1 + len, len)) {
			bad[c] = 1;
			continue;
		}
		eph[0] = 0x04;
		dx = (gnutls_datum_t){ qx, len };
		dy = (gnutls_datum_t){ qy, len };
		dk = (gnutls_datum_t){ d, len };
		if (gnutls_x509_privkey_init(&k) < 0)
			abort();
		if (gnutls_x509_privkey_import_ecc_raw(k, curves[c].curve, &dx, &dy, &dk) < 0) {
			gnutls_x509_privkey_deinit(k);
			bad[c] = 1;
			continue;
		}
		for (i = 0; i < CRYPT_HASH_LEN; i++)
			kid[i] = 0xc0 ^ i;
		for (i = 0; i < CRYPT_ID_LEN; i++)
			id[i] = right[c] + changed[c] + off[c] + i;
		randombytes_buf(key, sizeof(key));
		/* KEK = HKDF(salt = id, IKM = Z, info = label || 0x00 || ephemeral || key_id) */
		memcpy(info, label, sizeof(label));
		memcpy(info + sizeof(label), eph, eph_len);
		memcpy(info + sizeof(label) + eph_len, kid, sizeof(kid));
		crypt_hkdf_extract(id, sizeof(id), z, len, prk);
		crypt_hkdf_expand(prk, info, sizeof(label) + eph_len + sizeof(kid), kek, sizeof(kek));
		crypto_aead_chacha20poly1305_ietf_encrypt(wrapped, NULL, key, sizeof(key), NULL, 0, NULL, zero_nonce,
							  kek);
		rc.wrap = (char *)curves[c].wrap;
		rc.key_id = (ProtobufCBinaryData){ sizeof(kid), kid };
		rc.wrapped_key = (ProtobufCBinaryData){ sizeof(wrapped), wrapped };
		rc.ephemeral = (ProtobufCBinaryData){ eph_len, eph };
		rc.has_ephemeral = true;
		memset(out, 0, sizeof(out));
		stub_log_quiet = kind != 0;
		ret = crypt_ecdh_unwrap(k, "kat", id, &rc, out, "kat");
		if (kind == 0) {
			bad[c] |= ret || memcmp(out, key, sizeof(key));
			id[0] ^= 1;
			stub_log_quiet = true;
			bad[c] |= !crypt_ecdh_unwrap(k, "kat", id, &rc, out, "kat");
			right[c]++;
		} else {
			bad[c] |= !ret;
			kind == 1 ? changed[c]++ : off[c]++;
		}
		stub_log_quiet = false;
		gnutls_x509_privkey_deinit(k);
	}
	fclose(f);
	for (c = 0; c < 2; c++)
		result(right[c] && changed[c] && off[c] && !bad[c],
		       "EC wrap: ECDH %s known answers of NIST KAS ECC (Z only) through the unwrap: %d unwrap (and not "
		       "under another id), %d of a changed Z and %d of an ephemeral key off the curve are refused",
		       curves[c].name, right[c], changed[c], off[c]);
}

static void *read_whole(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) || !(buf = malloc(st.st_size + 1)) || read(fd, buf, st.st_size) != st.st_size) {
		perror(path);
		exit(2);
	}
	close(fd);
	*len = st.st_size;
	return buf;
}

/* The key of the stream "core-1.img" of nonce 0: what a checkpoint's key gives */
static void print_stream_key(const struct crypt_ctx *ctx)
{
	uint8_t key[32];

	crypt_derive_named(ctx, CRYPT_LABEL_STREAM, (const uint8_t[CRYPT_NONCE_LEN]){}, "core-1.img", key, sizeof(key));
	printf("stream_key ");
	hex(key, sizeof(key));
	printf("\n");
}

/*
 * "new OUT PARENT CERT...": the cipher.img of a new checkpoint for the
 * certificates (PARENT: the parent's digest in hex, or "-"), written to
 * OUT as a dump writes it; prints its stream key.
 */
static int cmd_new(const char *out, const char *parent_hex, const char *const *certs, int nr)
{
	uint32_t head[3] = { IMG_COMMON_MAGIC, CIPHER_MAGIC };
	uint8_t parent[CRYPT_HASH_LEN], *buf;
	bool has_parent = strcmp(parent_hex, "-");
	struct crypt_ctx *ctx;
	CipherEntry ce;
	size_t len;
	int fd, bad;

	if (has_parent && unhex_fixed(parent_hex, parent, sizeof(parent))) {
		fprintf(stderr, "new: a parent is 32 bytes in hex\n");
		return 2;
	}
	ctx = crypt_ctx_new(certs, nr, has_parent ? parent : NULL, &ce);
	if (!ctx)
		return 1;
	len = cipher_entry__get_packed_size(&ce);
	head[2] = len;
	buf = malloc(sizeof(head) + len);
	memcpy(buf, head, sizeof(head));
	cipher_entry__pack(&ce, buf + sizeof(head));
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	bad = fd < 0 || write(fd, buf, sizeof(head) + len) != (ssize_t)(sizeof(head) + len);
	if ((fd >= 0 && close(fd)) || bad) {
		perror(out);
		return 2;
	}
	print_stream_key(ctx);
	free(buf);
	crypt_entry_free(&ce);
	crypt_ctx_free(ctx);
	return 0;
}

/* "open KEY CIPHER": the file CIPHER read as criu reads cipher.img, opened with KEY; prints its stream key */
static int cmd_open(const char *key, const char *path)
{
	struct crypt_ctx *ctx = NULL;
	CipherEntry *ce;
	uint8_t *buf;
	size_t len;

	buf = read_whole(path, &len);
	ce = len <= CRYPT_CIPHER_MAX ? crypt_cipher_parse(buf, len, "cipher.img") : NULL;
	if (ce)
		ctx = crypt_ctx_open(ce, key, "cipher.img");
	if (ctx)
		print_stream_key(ctx);
	crypt_ctx_free(ctx);
	if (ce)
		cipher_entry__free_unpacked(ce, NULL);
	free(buf);
	return ctx ? 0 : 1;
}

/* "digest CIPHER MANIFEST": the digest of the checkpoint of these two files (section 9) */
static int cmd_digest(const char *cipher, const char *manifest)
{
	uint8_t digest[CRYPT_HASH_LEN], *c, *m;
	size_t clen, mlen;
	CipherEntry *ce;

	c = read_whole(cipher, &clen);
	m = read_whole(manifest, &mlen);
	ce = crypt_cipher_parse(c, clen, "cipher.img");
	if (!ce)
		return 1;
	crypt_checkpoint_digest(ce, m, mlen, digest);
	printf("digest ");
	hex(digest, sizeof(digest));
	printf("\n");
	cipher_entry__free_unpacked(ce, NULL);
	free(c);
	free(m);
	return 0;
}

/*
 * "norandom CERT...": without random bytes no checkpoint is made, and the
 * wrap of each certificate fails, and returns: each wrap runs in a child
 * that gets 5 seconds.
 */
static void cmd_norandom(const char *const *certs, int nr)
{
	uint8_t key[CRYPT_KEY_LEN] = {}, id[CRYPT_ID_LEN] = {}, kid[CRYPT_HASH_LEN] = {};
	struct crypt_ctx *ctx;
	CipherEntry ce;
	int i, status, waited;
	pid_t pid;

	fail_rnd = 1;
	stub_log_quiet = true;
	ctx = crypt_ctx_new(certs, nr, NULL, &ce);
	fail_rnd = 0;
	stub_log_quiet = false;
	result(!ctx, "no random bytes: no new checkpoint");
	if (ctx) {
		crypt_entry_free(&ce);
		crypt_ctx_free(ctx);
	}
	for (i = 0; i < nr; i++) {
		CipherRecipient r = CIPHER_RECIPIENT__INIT;
		gnutls_x509_crt_t *chain, crt;
		unsigned int nr_chain;
		int alg;

		if (crypt_chain_load(certs[i], &chain, &nr_chain) || !nr_chain) {
			result(0, "%s: can't load it", certs[i]);
			continue;
		}
		crt = chain[0];
		alg = gnutls_x509_crt_get_pk_algorithm(crt, NULL);
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			fail_rnd = 1;
			stub_log_quiet = true;
			r.key_id = (ProtobufCBinaryData){ sizeof(kid), kid };
			_exit(!(alg == GNUTLS_PK_RSA ? crypt_rsa_wrap(crt, certs[i], key, &r) :
						       crypt_ecdh_wrap(crt, certs[i], id, key, &r)));
		}
		for (waited = 0; pid > 0 && waited < 500 && !waitpid(pid, &status, WNOHANG); waited++)
			usleep(10000);
		if (pid > 0 && waited == 500) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			result(0, "%s: no random bytes, and the %s wrap does not return in 5 s", certs[i],
			       gnutls_pk_algorithm_get_name(alg));
		} else
			result(pid > 0 && WIFEXITED(status) && !WEXITSTATUS(status),
			       "%s: no random bytes, and the %s wrap fails", certs[i], gnutls_pk_algorithm_get_name(alg));
		crypt_chain_free(chain, nr_chain);
	}
}

int main(int argc, char **argv)
{
	if (crypt_init())
		return 2;
	if (argc == 3 && !strcmp(argv[1], "kat")) {
		kat_chacha(argv[2], "ciphers/ChaCha20Poly1305/openssl.txt");
		kat_chacha(argv[2], "ciphers/ChaCha20Poly1305/boringssl.txt");
		kat_hkdf(argv[2]);
		kat_oaep(argv[2]);
		kat_ecdh(argv[2]);
		kat_xts(argv[2]);
		kat_gmac(argv[2]);
	} else if (argc == 3 && !strcmp(argv[1], "stream"))
		stream_tests(argv[2]);
	else if (argc == 2 && !strcmp(argv[1], "pages"))
		page_tests();
	else if (argc >= 5 && !strcmp(argv[1], "new"))
		return cmd_new(argv[2], argv[3], (const char *const *)argv + 4, argc - 4);
	else if (argc == 4 && !strcmp(argv[1], "open"))
		return cmd_open(argv[2], argv[3]);
	else if (argc == 4 && !strcmp(argv[1], "digest"))
		return cmd_digest(argv[2], argv[3]);
	else if (argc >= 3 && !strcmp(argv[1], "norandom"))
		cmd_norandom((const char *const *)argv + 2, argc - 2);
	else {
		fprintf(stderr, "usage: see the head of %s\n", __FILE__);
		return 2;
	}
	return stub_failed;
}
