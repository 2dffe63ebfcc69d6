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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium/crypto_aead_chacha20poly1305.h>
#include <sodium/randombytes.h>

#include "log.h"
#include "common/compiler.h"
#include "common/xmalloc.h"
#include "crypt.h"

#undef LOG_PREFIX
#define LOG_PREFIX "crypt: "

static const char stream_magic[CRYPT_MAGIC_LEN] = "CRIUSEAL";

/*
 * Big reads and writes go in bulk: whole chunks are independent, so a
 * helper thread takes half of them and the cipher runs on two cores.  The
 * helper lives for one bulk only; starting it costs some 70 us, hence the
 * minimum.
 */
#define BULK_MIN    32 /* chunks: 2 MiB */
#define BULK_CHUNKS 64 /* chunks at most at once: 4 MiB */
#define BULK_SIZE   (BULK_CHUNKS * (CRYPT_CHUNK + CRYPT_TAG_LEN))

struct crypt_stream {
	int fd;
	bool writing;
	bool done;	    /* read: the last chunk was read; write: closed */
	uint64_t chunk;	    /* index of the next chunk */
	uint64_t nr_chunks; /* read: chunks in the file */
	off_t size;	    /* read: size of the file */
	size_t len;	    /* plaintext bytes in buf */
	size_t pos;	    /* read: bytes of buf already consumed */
	size_t used;	    /* bytes of buf ever used, to wipe */
	size_t cap;	    /* bytes of buf */
	char *name;
	uint8_t key[CRYPT_KEY_LEN];
	uint8_t hdr[CRYPT_HDR_LEN]; /* write: goes out with the first chunk */
	/*
	 * A chunk and its tag, but only as big as the image needs: most are
	 * far smaller than a chunk, and every page of it a criu task touches
	 * costs a fault (or a copy, after a fork).
	 */
	uint8_t *buf;
	uint8_t *bulk; /* chunks as in the file, for bulk reads and writes */
};

static void chunk_iv(uint64_t i, bool last, uint8_t *iv)
{
	int b;

	memset(iv, 0, CRYPT_IV_LEN);
	for (b = 10; b >= 3 && i; b--, i >>= 8)
		iv[b] = i & 0xff;
	iv[11] = last;
}

/* The length of chunk i in the file, its tag included */
static size_t chunk_len(const struct crypt_stream *s, uint64_t i)
{
	off_t off = CRYPT_HDR_LEN + i * (off_t)(CRYPT_CHUNK + CRYPT_TAG_LEN);

	return s->size - off < CRYPT_CHUNK + CRYPT_TAG_LEN ? s->size - off : CRYPT_CHUNK + CRYPT_TAG_LEN;
}

/* Chunks first to first + nr - 1 of a bulk, sealed or opened by one thread */
struct chunk_run {
	const struct crypt_stream *s;
	uint64_t first;
	size_t nr;
	const uint8_t *in; /* seal: plaintext, CRYPT_CHUNK a chunk; open: chunks as in the file */
	uint8_t *out;	   /* seal: chunks as in the file; open: plaintext */
	bool seal;	   /* only whole chunks, never the last, are sealed in bulk */
	uint64_t bad;	   /* open: the first chunk that failed, or UINT64_MAX */
};

static void *run_chunks(void *arg)
{
	struct chunk_run *r = arg;
	const size_t c = CRYPT_CHUNK + CRYPT_TAG_LEN;
	uint8_t iv[CRYPT_IV_LEN];
	size_t k, clen;
	uint64_t i;

	for (k = 0; k < r->nr; k++) {
		i = r->first + k;
		if (r->seal) {
			chunk_iv(i, false, iv);
			crypto_aead_chacha20poly1305_ietf_encrypt_detached(r->out + k * c, r->out + k * c + CRYPT_CHUNK,
									   NULL, r->in + k * CRYPT_CHUNK, CRYPT_CHUNK,
									   NULL, 0, NULL, iv, r->s->key);
			continue;
		}
		clen = chunk_len(r->s, i);
		chunk_iv(i, i == r->s->nr_chunks - 1, iv);
		if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(r->out + k * CRYPT_CHUNK, NULL, r->in + k * c,
								       clen - CRYPT_TAG_LEN,
								       r->in + k * c + clen - CRYPT_TAG_LEN, NULL, 0,
								       iv, r->s->key)) {
			r->bad = i;
			break;
		}
	}
	return NULL;
}

/*
 * Seal or open nr chunks from chunk first, on two cores when there are
 * enough of them; the first chunk that failed to open, or UINT64_MAX.
 */
static uint64_t run_bulk(const struct crypt_stream *s, uint64_t first, size_t nr, const uint8_t *in, uint8_t *out,
			 bool seal)
{
	size_t half = nr >= BULK_MIN ? nr / 2 : 0, n = nr - half;
	size_t in_len = seal ? CRYPT_CHUNK : CRYPT_CHUNK + CRYPT_TAG_LEN;
	size_t out_len = seal ? CRYPT_CHUNK + CRYPT_TAG_LEN : CRYPT_CHUNK;
	struct chunk_run r[2] = {
		{ s, first, n, in, out, seal, UINT64_MAX },
		{ s, first + n, half, in + n * in_len, out + n * out_len, seal, UINT64_MAX },
	};
	bool helper;
	pthread_t t;

	helper = half && !crypt_thread_start(&t, run_chunks, &r[1]);
	run_chunks(&r[0]);
	if (helper)
		pthread_join(t, NULL);
	else
		run_chunks(&r[1]);
	return r[0].bad < r[1].bad ? r[0].bad : r[1].bad;
}

static int get_bulk(struct crypt_stream *s)
{
	if (s->bulk)
		return 0;
	s->bulk = mmap(NULL, BULK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (s->bulk != MAP_FAILED)
		return 0;
	s->bulk = NULL;
	pr_perror("%s: can't allocate a buffer", s->name);
	return -1;
}

static void stream_key(struct crypt_stream *s, const struct crypt_ctx *ctx, const uint8_t *nonce)
{
	size_t nlen = strlen(s->name);
	uint8_t data[CRYPT_NONCE_LEN + nlen];

	memcpy(data, nonce, CRYPT_NONCE_LEN);
	memcpy(data + CRYPT_NONCE_LEN, s->name, nlen);
	crypt_derive(ctx, "criu-encrypt v1 stream", data, sizeof(data), s->key, sizeof(s->key));
}

static struct crypt_stream *stream_alloc(int fd, const char *name, bool writing, size_t cap)
{
	struct crypt_stream *s;

	s = xzalloc(sizeof(*s));
	if (!s)
		return NULL;
	s->name = xstrdup(name);
	s->buf = xmalloc(cap);
	s->cap = cap;
	if (!s->name || !s->buf) {
		xfree(s->name);
		xfree(s->buf);
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
	crypt_wipe(s->buf, s->used);
	xfree(s->buf);
	/* ciphertext only */
	if (s->bulk)
		munmap(s->bulk, BULK_SIZE);
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

/* Make room for len bytes in s->buf: a whole chunk then. */
static int buf_reserve(struct crypt_stream *s, size_t len)
{
	uint8_t *buf;

	if (len <= s->cap)
		return 0;
	buf = xmalloc(CRYPT_CHUNK + CRYPT_TAG_LEN);
	if (!buf)
		return -1;
	memcpy(buf, s->buf, s->used);
	crypt_wipe(s->buf, s->used);
	xfree(s->buf);
	s->buf = buf;
	s->cap = CRYPT_CHUNK + CRYPT_TAG_LEN;
	return 0;
}

struct crypt_stream *crypt_stream_open_write(const struct crypt_ctx *ctx, int fd, const char *name)
{
	struct crypt_stream *s;

	s = stream_alloc(fd, name, true, 4096);
	if (!s)
		return NULL;
	memcpy(s->hdr, stream_magic, CRYPT_MAGIC_LEN);
	randombytes_buf(s->hdr + CRYPT_MAGIC_LEN, CRYPT_NONCE_LEN);
	stream_key(s, ctx, s->hdr + CRYPT_MAGIC_LEN);
	return s;
}

/* Write sealed chunks; the first one goes out with the header, in one write for most images. */
static int write_out(struct crypt_stream *s, const uint8_t *buf, size_t len)
{
	struct iovec iov[2] = { { s->hdr, CRYPT_HDR_LEN }, { (void *)buf, len } };
	ssize_t ret;

	if (s->chunk)
		return write_all(s, buf, len);
	ret = writev(s->fd, iov, 2);
	if (ret == CRYPT_HDR_LEN + len)
		return 0;
	if (ret < 0 && errno != EINTR) {
		pr_perror("%s: can't write", s->name);
		return -1;
	}
	if (ret < 0)
		ret = 0;
	if (ret < CRYPT_HDR_LEN && write_all(s, s->hdr + ret, CRYPT_HDR_LEN - ret))
		return -1;
	ret = ret < CRYPT_HDR_LEN ? 0 : ret - CRYPT_HDR_LEN;
	return write_all(s, buf + ret, len - ret);
}

/* Seal n bytes of plaintext at src (s->buf itself, or not) into s->buf and write them out. */
static int seal_chunk(struct crypt_stream *s, const void *src, size_t n, bool last)
{
	bool own = src == s->buf;
	uint8_t iv[CRYPT_IV_LEN];

	if (buf_reserve(s, n + CRYPT_TAG_LEN))
		return -1;
	if (own)
		src = s->buf;
	chunk_iv(s->chunk, last, iv);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(s->buf, s->buf + n, NULL, src, n, NULL, 0, NULL, iv,
							   s->key);
	if (s->used < n + CRYPT_TAG_LEN)
		s->used = n + CRYPT_TAG_LEN;
	if (write_out(s, s->buf, n + CRYPT_TAG_LEN))
		return -1;
	s->chunk++;
	s->len = 0;
	return 0;
}

/* Seal nr whole chunks of buf, none the last, in bulk and write them out. */
static int write_bulk(struct crypt_stream *s, const void *buf, size_t nr)
{
	if (get_bulk(s))
		return -1;
	run_bulk(s, s->chunk, nr, buf, s->bulk, true);
	if (write_out(s, s->bulk, nr * (CRYPT_CHUNK + CRYPT_TAG_LEN)))
		return -1;
	s->chunk += nr;
	return 0;
}

int crypt_stream_write(struct crypt_stream *s, const void *buf, size_t len)
{
	while (len) {
		size_t n;

		/* a full chunk is sealed only once more data shows it is not the last */
		if (s->len == CRYPT_CHUNK && seal_chunk(s, s->buf, s->len, false))
			return -1;
		if (!s->len && len > BULK_MIN * CRYPT_CHUNK) {
			n = min_t(size_t, (len - 1) / CRYPT_CHUNK, BULK_CHUNKS);
			if (write_bulk(s, buf, n))
				return -1;
			buf += n * CRYPT_CHUNK;
			len -= n * CRYPT_CHUNK;
			continue;
		}
		/* whole chunks with more to follow go straight from the caller's buffer */
		if (!s->len && len > CRYPT_CHUNK) {
			if (seal_chunk(s, buf, CRYPT_CHUNK, false))
				return -1;
			buf += CRYPT_CHUNK;
			len -= CRYPT_CHUNK;
			continue;
		}
		n = len < CRYPT_CHUNK - s->len ? len : CRYPT_CHUNK - s->len;
		if (buf_reserve(s, s->len + n))
			return -1;
		memcpy(s->buf + s->len, buf, n);
		s->len += n;
		if (s->used < s->len)
			s->used = s->len;
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

/* Authenticate and decrypt chunk i, read into s->buf. */
static int open_chunk(struct crypt_stream *s, uint64_t i)
{
	size_t clen = chunk_len(s, i);
	bool last = i == s->nr_chunks - 1;
	uint8_t iv[CRYPT_IV_LEN];

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

/* len bytes at off, or an error naming the image: a short read is a truncation. */
static int read_exact(struct crypt_stream *s, void *buf, size_t len, off_t off)
{
	ssize_t ret = pread(s->fd, buf, len, off);

	if (ret == len)
		return 0;
	if (ret < 0)
		pr_perror("%s: can't read", s->name);
	else
		pr_err("%s: truncated while reading\n", s->name);
	return -1;
}

static int read_chunk(struct crypt_stream *s, uint64_t i)
{
	size_t clen = chunk_len(s, i);

	if (buf_reserve(s, clen))
		return -1;
	if (s->used < clen)
		s->used = clen;
	if (read_exact(s, s->buf, clen, CRYPT_HDR_LEN + i * (off_t)(CRYPT_CHUNK + CRYPT_TAG_LEN)))
		return -1;
	return open_chunk(s, i);
}

/*
 * Open a sealed image for reading.  Its last chunk is authenticated at
 * once, so a truncated or extended image is refused before any of it is
 * used, even by a reader that stops early.
 */
struct crypt_stream *crypt_stream_open_read(const struct crypt_ctx *ctx, int fd, const char *name)
{
	uint8_t hdr[CRYPT_HDR_LEN];
	struct iovec iov[2] = { { hdr, sizeof(hdr) } };
	struct crypt_stream *s;
	off_t payload, rem;
	bool whole = false;
	struct stat st;

	if (fstat(fd, &st)) {
		pr_perror("%s: can't stat", name);
		return NULL;
	}
	payload = st.st_size - CRYPT_HDR_LEN;
	s = stream_alloc(fd, name, false, payload <= 0 ? 1 : min_t(size_t, payload, CRYPT_CHUNK + CRYPT_TAG_LEN));
	if (!s)
		return NULL;
	s->size = st.st_size;
	/* an image of one chunk, as most are, is read whole at once */
	if (payload > 0 && payload <= CRYPT_CHUNK + CRYPT_TAG_LEN) {
		iov[1].iov_base = s->buf;
		iov[1].iov_len = payload;
		s->used = payload;
		whole = preadv(fd, iov, 2, 0) == s->size;
	}
	if ((!whole && pread(fd, hdr, sizeof(hdr), 0) != sizeof(hdr)) || memcmp(hdr, stream_magic, CRYPT_MAGIC_LEN)) {
		pr_err("%s: not an encrypted image (bad header)\n", name);
		goto err;
	}
	rem = payload % (CRYPT_CHUNK + CRYPT_TAG_LEN);
	if (payload < CRYPT_TAG_LEN || (rem && rem < CRYPT_TAG_LEN)) {
		pr_err("%s: truncated (%lld bytes)\n", name, (long long)s->size);
		goto err;
	}
	s->nr_chunks = payload / (CRYPT_CHUNK + CRYPT_TAG_LEN) + !!rem;
	stream_key(s, ctx, hdr + CRYPT_MAGIC_LEN);

	if (whole ? open_chunk(s, 0) : read_chunk(s, s->nr_chunks - 1))
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

/* Read, authenticate and decrypt the next nr chunks into buf, in bulk; the plaintext length. */
static ssize_t read_bulk(struct crypt_stream *s, void *buf, size_t nr)
{
	off_t off = CRYPT_HDR_LEN + s->chunk * (off_t)(CRYPT_CHUNK + CRYPT_TAG_LEN);
	size_t len = (nr - 1) * (CRYPT_CHUNK + CRYPT_TAG_LEN) + chunk_len(s, s->chunk + nr - 1);
	uint64_t bad;

	if (get_bulk(s))
		return -1;
	if (read_exact(s, s->bulk, len, off))
		return -1;
	bad = run_bulk(s, s->chunk, nr, s->bulk, buf, false);
	if (bad != UINT64_MAX) {
		pr_err("%s: authentication failed at chunk %" PRIu64 " (tampered, truncated or not of this checkpoint)\n",
		       s->name, bad);
		return -1;
	}
	s->chunk += nr;
	s->done = s->chunk == s->nr_chunks;
	s->len = s->pos = 0;
	return len - nr * CRYPT_TAG_LEN;
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
			/* many whole chunks wanted: straight into buf */
			n = min_t(size_t, (len - got) / CRYPT_CHUNK, s->nr_chunks - s->chunk);
			if (n >= BULK_MIN) {
				ssize_t ret = read_bulk(s, buf + got, min_t(size_t, n, BULK_CHUNKS));

				if (ret < 0)
					return -1;
				got += ret;
				continue;
			}
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
