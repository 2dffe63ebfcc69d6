/*
 * The speed of the encryption module's primitives as criu uses them, on
 * one core: the sealed stream (criu/crypt-stream.c) writing and reading a
 * file on tmpfs in 1 MiB pieces, and the page cipher (criu/crypt-page.c)
 * sealing and opening 4 KiB pages in place in batches of 256; and, to see
 * where the page cipher's time goes, its two halves alone through the same
 * GnuTLS calls (AES-256-XTS per page, the GMAC tag per page), and memcpy as
 * the memory bandwidth ceiling.  Prints "name MB/s" lines:
 *
 *   stream-seal, stream-open   ChaCha20-Poly1305 stream, file on DIR
 *   pages-seal                 XTS + tag per page, as criu dump does
 *   pages-open                 tag check + XTS decryption, as restore does
 *   pages-seal+open            both, on the same buffer
 *   xts-page, gmac-page        each half of the page cipher alone
 *   memcpy                     copies between 64 MiB buffers (beyond the
 *                              caches): the memory bandwidth, the ceiling
 *                              of any pass over the bytes
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

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>

#include "crypt-private.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(const char *name, size_t bytes, double secs)
{
	printf("%s %.0f MB/s\n", name, bytes / secs / 1e6);
	fflush(stdout);
}

/* The two halves of crypt_pages_seal(), alone, with its GnuTLS calls. */
static int page_halves(uint8_t *buf, size_t piece, size_t mib)
{
	uint8_t kx[64], kt[32], tweak[16] = {}, nonce[12] = {}, tag[16];
	gnutls_datum_t dkx = { kx, sizeof(kx) }, dkt = { kt, sizeof(kt) }, div = { tweak, sizeof(tweak) };
	gnutls_cipher_hd_t xts;
	gnutls_aead_cipher_hd_t gmac;
	size_t i, j, nr = piece / CRYPT_PAGE_SIZE, len;
	double t;

	randombytes_buf(kx, sizeof(kx));
	randombytes_buf(kt, sizeof(kt));
	if (gnutls_cipher_init(&xts, GNUTLS_CIPHER_AES_256_XTS, &dkx, &div) < 0 ||
	    gnutls_aead_cipher_init(&gmac, GNUTLS_CIPHER_AES_256_GCM, &dkt) < 0)
		return -1;

	t = now();
	for (i = 0; i < mib; i++)
		for (j = 0; j < nr; j++) {
			memcpy(tweak, &j, sizeof(j));
			gnutls_cipher_set_iv(xts, tweak, sizeof(tweak));
			gnutls_cipher_encrypt(xts, buf + j * CRYPT_PAGE_SIZE, CRYPT_PAGE_SIZE);
		}
	report("xts-page", mib * piece, now() - t);

	t = now();
	for (i = 0; i < mib; i++)
		for (j = 0; j < nr; j++) {
			len = sizeof(tag);
			memcpy(nonce + 4, &j, sizeof(j));
			gnutls_aead_cipher_encrypt(gmac, nonce, sizeof(nonce), buf + j * CRYPT_PAGE_SIZE,
						   CRYPT_PAGE_SIZE, sizeof(tag), NULL, 0, tag, &len);
		}
	report("gmac-page", mib * piece, now() - t);

	gnutls_cipher_deinit(xts);
	gnutls_aead_cipher_deinit(gmac);
	return 0;
}

int main(int argc, char **argv)
{
	size_t piece = 1 << 20, mib = argc > 2 ? atoi(argv[2]) : 1024, i;
	uint8_t key[CRYPT_KEY_LEN];
	struct crypt_ctx ctx;
	struct crypt_stream *s;
	char path[4096];
	uint8_t *buf;
	double t, opened;
	int fd;

	if (argc < 2 || crypt_init())
		return 2;
	buf = malloc(piece);
	randombytes_buf(buf, piece);
	randombytes_buf(ctx.id, sizeof(ctx.id));
	randombytes_buf(key, sizeof(key));
	crypt_ctx_key(&ctx, key);
	snprintf(path, sizeof(path), "%s/stream-bench.img", argv[1]);

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	t = now();
	s = crypt_stream_open_write(&ctx, fd, "bench.img");
	for (i = 0; i < mib; i++)
		crypt_stream_write(s, buf, piece);
	crypt_stream_close_write(s);
	crypt_stream_free(s);
	report("stream-seal", mib * piece, now() - t);

	t = now();
	s = crypt_stream_open_read(&ctx, fd, "bench.img");
	while (s && crypt_stream_read(s, buf, piece) > 0)
		;
	crypt_stream_free(s);
	report("stream-open", mib * piece, now() - t);
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
		report("pages-seal", mib * piece, now() - t);

		/* Opening needs freshly sealed pages: seal untimed, time the open. */
		opened = 0;
		for (i = 0; i < mib; i++) {
			crypt_pages_seal(cp, i * nr, buf, nr, tags);
			t = now();
			if (crypt_pages_open(cp, i * nr, buf, nr, tags))
				return 1;
			opened += now() - t;
		}
		report("pages-open", mib * piece, opened);

		t = now();
		for (i = 0; i < mib; i++) {
			crypt_pages_seal(cp, 0, buf, nr, tags);
			crypt_pages_open(cp, 0, buf, nr, tags);
		}
		report("pages-seal+open", mib * piece, now() - t);
		crypt_pages_free(cp);
	}

	if (page_halves(buf, piece, mib))
		return 1;

	{
		size_t big = 64 << 20, n = mib * piece / big;
		uint8_t *src = malloc(big), *dst = malloc(big);

		if (!src || !dst)
			return 1;
		memset(src, 1, big);
		memcpy(dst, src, big); /* faults both in, untimed */
		n = n < 4 ? 4 : n;
		t = now();
		for (i = 0; i < n; i++) {
			memcpy(dst, src, big);
			src[i] ^= dst[big - 1 - i]; /* keep the copies from being optimised out */
		}
		report("memcpy", n * big, now() - t);
	}
	return 0;
}
