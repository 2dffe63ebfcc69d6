/*
 * The authenticated stream that seals an image file (the framing of the
 * age format, the calls of libsodium's secretstream):
 *
 *   file   = "CRIUSEAL" || nonce[16] || chunk_0 || ... || chunk_n-1
 *   key    = HKDF-Expand(checkpoint PRK, "criu-encrypt v1 stream" || 0 ||
 *                        nonce || image name)
 *   chunk_i = ChaCha20-Poly1305(key, iv_i, plaintext_i) || tag[16]
 *   iv_i   = i as 11 bytes big-endian || (1 if i == n-1 else 0)
 *
 * Every chunk holds 64 KiB of plaintext but the last, which holds 1 to
 * 64 KiB (0 only when the whole image is empty).  The image name and the
 * checkpoint are bound through the key, the position of each chunk and
 * the end of the stream through its iv: a flipped, dropped, reordered or
 * added chunk, a truncated or extended file, or a file of another name or
 * another checkpoint fails authentication.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium/crypto_aead_chacha20poly1305.h>
#include <sodium/randombytes.h>

#include "log.h"
#include "common/xmalloc.h"
#include "crypt.h"

#undef LOG_PREFIX
#define LOG_PREFIX "crypt: "

static const char stream_magic[CRYPT_MAGIC_LEN] = "CRIUSEAL";

struct crypt_stream {
	int fd;
	bool writing;
	bool done;	    /* read: the last chunk was read; write: closed */
	uint64_t chunk;	    /* index of the next chunk */
	uint64_t nr_chunks; /* read: chunks in the file */
	off_t size;	    /* read: size of the file */
	size_t len;	    /* plaintext bytes in buf */
	size_t pos;	    /* read: bytes of buf already consumed */
	char *name;
	uint8_t key[CRYPT_KEY_LEN];
	uint8_t buf[CRYPT_CHUNK + CRYPT_TAG_LEN];
};

static void chunk_iv(uint64_t i, bool last, uint8_t *iv)
{
	int b;

	memset(iv, 0, CRYPT_IV_LEN);
	for (b = 10; b >= 3 && i; b--, i >>= 8)
		iv[b] = i & 0xff;
	iv[11] = last;
}

static void stream_key(struct crypt_stream *s, const struct crypt_ctx *ctx, const uint8_t *nonce)
{
	size_t nlen = strlen(s->name);
	uint8_t data[CRYPT_NONCE_LEN + nlen];

	memcpy(data, nonce, CRYPT_NONCE_LEN);
	memcpy(data + CRYPT_NONCE_LEN, s->name, nlen);
	crypt_derive(ctx, "criu-encrypt v1 stream", data, sizeof(data), s->key, sizeof(s->key));
}

static struct crypt_stream *stream_alloc(int fd, const char *name, bool writing)
{
	struct crypt_stream *s;

	s = xzalloc(sizeof(*s));
	if (!s)
		return NULL;
	s->name = xstrdup(name);
	if (!s->name) {
		xfree(s);
		return NULL;
	}
	s->fd = fd;
	s->writing = writing;
	return s;
}

void crypt_stream_free(struct crypt_stream *s)
{
	if (!s)
		return;
	xfree(s->name);
	crypt_wipe(s, sizeof(*s));
	xfree(s);
}

static int write_all(struct crypt_stream *s, const void *buf, size_t len)
{
	while (len) {
		ssize_t ret = write(s->fd, buf, len);

		if (ret < 0) {
			if (errno == EINTR)
				continue;
			pr_perror("%s: can't write", s->name);
			return -1;
		}
		buf += ret;
		len -= ret;
	}
	return 0;
}

struct crypt_stream *crypt_stream_open_write(const struct crypt_ctx *ctx, int fd, const char *name)
{
	uint8_t hdr[CRYPT_HDR_LEN];
	struct crypt_stream *s;

	s = stream_alloc(fd, name, true);
	if (!s)
		return NULL;
	memcpy(hdr, stream_magic, CRYPT_MAGIC_LEN);
	randombytes_buf(hdr + CRYPT_MAGIC_LEN, CRYPT_NONCE_LEN);
	stream_key(s, ctx, hdr + CRYPT_MAGIC_LEN);
	if (write_all(s, hdr, sizeof(hdr))) {
		crypt_stream_free(s);
		return NULL;
	}
	return s;
}

/* Seal n bytes of plaintext at src (s->buf itself, or not) into s->buf and write them out. */
static int seal_chunk(struct crypt_stream *s, const void *src, size_t n, bool last)
{
	uint8_t iv[CRYPT_IV_LEN];

	chunk_iv(s->chunk, last, iv);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(s->buf, s->buf + n, NULL, src, n, NULL, 0, NULL, iv,
							   s->key);
	if (write_all(s, s->buf, n + CRYPT_TAG_LEN))
		return -1;
	s->chunk++;
	s->len = 0;
	return 0;
}

int crypt_stream_write(struct crypt_stream *s, const void *buf, size_t len)
{
	while (len) {
		size_t n;

		/* a full chunk is sealed only once more data shows it is not the last */
		if (s->len == CRYPT_CHUNK && seal_chunk(s, s->buf, s->len, false))
			return -1;
		/* whole chunks with more to follow go straight from the caller's buffer */
		if (!s->len && len > CRYPT_CHUNK) {
			if (seal_chunk(s, buf, CRYPT_CHUNK, false))
				return -1;
			buf += CRYPT_CHUNK;
			len -= CRYPT_CHUNK;
			continue;
		}
		n = len < CRYPT_CHUNK - s->len ? len : CRYPT_CHUNK - s->len;
		memcpy(s->buf + s->len, buf, n);
		s->len += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int crypt_stream_close_write(struct crypt_stream *s)
{
	if (s->done)
		return 0;
	s->done = true;
	return seal_chunk(s, s->buf, s->len, true);
}

static int read_chunk(struct crypt_stream *s, uint64_t i)
{
	off_t off = CRYPT_HDR_LEN + i * (off_t)(CRYPT_CHUNK + CRYPT_TAG_LEN);
	size_t clen = s->size - off < CRYPT_CHUNK + CRYPT_TAG_LEN ? s->size - off : CRYPT_CHUNK + CRYPT_TAG_LEN;
	bool last = i == s->nr_chunks - 1;
	uint8_t iv[CRYPT_IV_LEN];
	ssize_t ret;

	ret = pread(s->fd, s->buf, clen, off);
	if (ret != clen) {
		if (ret < 0)
			pr_perror("%s: can't read", s->name);
		else
			pr_err("%s: truncated while reading\n", s->name);
		return -1;
	}
	chunk_iv(i, last, iv);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(s->buf, NULL, s->buf, clen - CRYPT_TAG_LEN,
							       s->buf + clen - CRYPT_TAG_LEN, NULL, 0, iv,
							       s->key)) {
		pr_err("%s: authentication failed at chunk %" PRIu64 " (tampered, truncated or not of this checkpoint)\n",
		       s->name, i);
		return -1;
	}
	s->len = clen - CRYPT_TAG_LEN;
	s->pos = 0;
	s->chunk = i + 1;
	s->done = last;
	return 0;
}

/*
 * Open a sealed image for reading.  Its last chunk is authenticated at
 * once, so a truncated or extended image is refused before any of it is
 * used, even by a reader that stops early.
 */
struct crypt_stream *crypt_stream_open_read(const struct crypt_ctx *ctx, int fd, const char *name)
{
	uint8_t hdr[CRYPT_HDR_LEN];
	struct crypt_stream *s;
	off_t payload, rem;
	struct stat st;

	s = stream_alloc(fd, name, false);
	if (!s)
		return NULL;
	if (fstat(fd, &st)) {
		pr_perror("%s: can't stat", name);
		goto err;
	}
	s->size = st.st_size;
	if (pread(fd, hdr, sizeof(hdr), 0) != sizeof(hdr) || memcmp(hdr, stream_magic, CRYPT_MAGIC_LEN)) {
		pr_err("%s: not an encrypted image (bad header)\n", name);
		goto err;
	}
	payload = s->size - CRYPT_HDR_LEN;
	rem = payload % (CRYPT_CHUNK + CRYPT_TAG_LEN);
	if (payload < CRYPT_TAG_LEN || (rem && rem < CRYPT_TAG_LEN)) {
		pr_err("%s: truncated (%lld bytes)\n", name, (long long)s->size);
		goto err;
	}
	s->nr_chunks = payload / (CRYPT_CHUNK + CRYPT_TAG_LEN) + !!rem;
	stream_key(s, ctx, hdr + CRYPT_MAGIC_LEN);

	if (read_chunk(s, s->nr_chunks - 1))
		goto err;
	if (s->nr_chunks > 1) {
		s->len = 0;
		s->done = false;
		s->chunk = 0;
	}
	return s;
err:
	crypt_stream_free(s);
	return NULL;
}

int crypt_stream_fd(const struct crypt_stream *s)
{
	return s->fd;
}

/* The plaintext size of a stream open for reading */
off_t crypt_stream_size(const struct crypt_stream *s)
{
	return s->size - CRYPT_HDR_LEN - s->nr_chunks * CRYPT_TAG_LEN;
}

/* Like read(2): 0 at the end of the stream, -1 (logged) on any failure. */
ssize_t crypt_stream_read(struct crypt_stream *s, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		size_t n;

		if (s->pos == s->len) {
			if (s->done)
				break;
			if (read_chunk(s, s->chunk))
				return -1;
		}
		n = len - got < s->len - s->pos ? len - got : s->len - s->pos;
		memcpy(buf + got, s->buf + s->pos, n);
		s->pos += n;
		got += n;
	}
	return got;
}
