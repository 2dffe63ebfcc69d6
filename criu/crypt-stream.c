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
#include <sys/uio.h>
#include <unistd.h>

#include <sodium/crypto_aead_chacha20poly1305.h>

#include "log.h"
#include "common/compiler.h"
#include "common/xmalloc.h"
#include "crypt-private.h"

struct crypt_stream {
	int fd;
	bool writing;
	bool done;	    /* read: the last chunk was read; write: closed */
	bool failed;	    /* write: a write failed, and said so */
	uint64_t chunk;	    /* index of the next chunk */
	uint64_t nr_chunks; /* read: chunks in the file */
	off_t size;	    /* read: size of the file */
	size_t len;	    /* plaintext bytes in buf */
	size_t pos;	    /* read: bytes of buf already consumed */
	size_t used;	    /* bytes of buf ever used, to wipe */
	uint8_t key[CRYPT_KEY_LEN];
	uint8_t hdr[CRYPT_HDR_LEN]; /* write: goes out with the first chunk */
	uint8_t *buf;		    /* a chunk and its tag */
	char name[];
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

static void stream_key(struct crypt_stream *s, const struct crypt_ctx *ctx, const uint8_t *nonce)
{
	crypt_derive_named(ctx, CRYPT_LABEL_STREAM, nonce, s->name, s->key, sizeof(s->key));
}

/*
 * Every stream has a whole chunk buffer, of which it touches only the
 * pages it uses; those of closed streams are kept, wiped, for the next
 * streams (crypt_buf_get()).  Only criu's main thread opens streams.
 */
#define STREAM_BUF (CRYPT_CHUNK + CRYPT_TAG_LEN)

static struct crypt_stream *stream_alloc(int fd, const char *name, bool writing)
{
	struct crypt_stream *s;

	s = xzalloc(sizeof(*s) + strlen(name) + 1);
	if (!s)
		return NULL;
	s->buf = crypt_buf_get(STREAM_BUF);
	if (!s->buf) {
		xfree(s);
		return NULL;
	}
	strcpy(s->name, name);
	s->fd = fd;
	s->writing = writing;
	return s;
}

void crypt_stream_free(struct crypt_stream *s)
{
	if (!s)
		return;
	crypt_wipe(s->buf, s->used);
	crypt_buf_put(s->buf, STREAM_BUF);
	crypt_wipe(s, sizeof(*s));
	xfree(s);
}

struct crypt_stream *crypt_stream_open_write(const struct crypt_ctx *ctx, int fd, const char *name)
{
	struct crypt_stream *s;

	s = stream_alloc(fd, name, true);
	if (!s)
		return NULL;
	memcpy(s->hdr, CRYPT_MAGIC, CRYPT_MAGIC_LEN);
	if (crypt_random(s->hdr + CRYPT_MAGIC_LEN, CRYPT_NONCE_LEN)) {
		crypt_stream_free(s);
		return NULL;
	}
	stream_key(s, ctx, s->hdr + CRYPT_MAGIC_LEN);
	return s;
}

/* Write sealed chunks; the first one goes out with the header, in one write for most images. */
static int write_chunks(struct crypt_stream *s, const uint8_t *buf, size_t len)
{
	struct iovec iov[2] = { { s->hdr, CRYPT_HDR_LEN }, { (void *)buf, len } };
	ssize_t ret;

	if (s->chunk)
		return crypt_write_all(s->fd, buf, len, s->name);
	ret = writev(s->fd, iov, 2);
	if (ret == CRYPT_HDR_LEN + len)
		return 0;
	if (ret < 0 && errno != EINTR) {
		pr_perror("%s: can't write", s->name);
		return -1;
	}
	if (ret < 0)
		ret = 0;
	if (ret < CRYPT_HDR_LEN && crypt_write_all(s->fd, s->hdr + ret, CRYPT_HDR_LEN - ret, s->name))
		return -1;
	ret = ret < CRYPT_HDR_LEN ? 0 : ret - CRYPT_HDR_LEN;
	return crypt_write_all(s->fd, buf + ret, len - ret, s->name);
}

/* The same, once: after a failure the image is lost, and the error was told */
static int write_out(struct crypt_stream *s, const uint8_t *buf, size_t len)
{
	if (s->failed)
		return -1;
	if (write_chunks(s, buf, len)) {
		s->failed = true;
		return -1;
	}
	return 0;
}

/* Seal n bytes of plaintext at src (s->buf itself, or not) into s->buf and write them out. */
static int seal_chunk(struct crypt_stream *s, const void *src, size_t n, bool last)
{
	uint8_t iv[CRYPT_IV_LEN];

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
		set_cr_errno(EBADMSG);
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

static int read_chunk(struct crypt_stream *s, uint64_t i)
{
	size_t clen = chunk_len(s, i);

	if (s->used < clen)
		s->used = clen;
	if (crypt_read_exact(s->fd, s->buf, clen, CRYPT_HDR_LEN + i * (off_t)(CRYPT_CHUNK + CRYPT_TAG_LEN), s->name))
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
	s = stream_alloc(fd, name, false);
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
	if ((!whole && pread(fd, hdr, sizeof(hdr), 0) != sizeof(hdr)) || memcmp(hdr, CRYPT_MAGIC, CRYPT_MAGIC_LEN)) {
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

/*
 * Raw images move between the memfd a raw user had and the image in
 * pieces of 1 MiB.  The chunks of a piece are independent: they are the
 * units of a job of the worker-thread engine (crypt-work.c), so that the
 * cipher runs on two cores, and while the engine works on a piece the
 * caller reads the next one in and writes the previous one out, so that
 * the I/O overlaps the cipher.  The helper lives for one transfer; below
 * 2 MiB it is not worth starting (some 70 us), and the chunks go one by
 * one.  The buffers are kept for the next transfer (crypt_buf_get()).
 */
#define PIECE_CHUNKS 16
#define BULK_MIN     32

struct piece {
	struct crypt_job job; /* a unit a chunk */
	uint64_t first;	      /* its first chunk */
	size_t plain_len;     /* bytes of plaintext */
	size_t sealed_len;    /* bytes in the file */
	uint8_t *plain;	      /* CRYPT_CHUNK bytes a chunk */
	uint8_t *sealed;      /* the chunks as in the file */
};

struct bulk {
	struct crypt_stream *s;
	int fd; /* the plaintext */
	bool seal;
	uint64_t bad; /* open: the first chunk that failed, or UINT64_MAX */
	struct crypt_engine engine;
	struct piece p[2];
	uint8_t *mem;
	size_t mem_len;
};

static void run_chunk(struct crypt_job *job, unsigned int k, int thread)
{
	const size_t c = CRYPT_CHUNK + CRYPT_TAG_LEN;
	struct piece *p = container_of(job, struct piece, job);
	struct bulk *b = job->arg;
	const struct crypt_stream *s = b->s;
	uint64_t i = p->first + k, bad;
	uint8_t iv[CRYPT_IV_LEN];
	size_t clen;

	if (b->seal) {
		/* never the last chunk: that one goes through s->buf */
		chunk_iv(i, false, iv);
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(p->sealed + k * c, p->sealed + k * c + CRYPT_CHUNK,
								   NULL, p->plain + k * CRYPT_CHUNK, CRYPT_CHUNK,
								   NULL, 0, NULL, iv, s->key);
		return;
	}
	clen = chunk_len(s, i);
	chunk_iv(i, i == s->nr_chunks - 1, iv);
	if (!crypto_aead_chacha20poly1305_ietf_decrypt_detached(p->plain + k * CRYPT_CHUNK, NULL, p->sealed + k * c,
								clen - CRYPT_TAG_LEN,
								p->sealed + k * c + clen - CRYPT_TAG_LEN, NULL, 0, iv,
								s->key))
		return;
	/* the first chunk that failed, for the caller to report */
	bad = __atomic_load_n(&b->bad, __ATOMIC_RELAXED);
	while (i < bad && !__atomic_compare_exchange_n(&b->bad, &bad, i, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Read nr chunks from chunk first into p: plaintext from the memfd at off, or chunks from the image. */
static int load(struct bulk *b, struct piece *p, uint64_t first, unsigned int nr, off_t off)
{
	struct crypt_stream *s = b->s;

	p->first = first;
	p->job.units = nr;
	if (b->seal) {
		p->plain_len = nr * (size_t)CRYPT_CHUNK;
		p->sealed_len = nr * (size_t)(CRYPT_CHUNK + CRYPT_TAG_LEN);
		return crypt_read_exact(b->fd, p->plain, p->plain_len, off, s->name);
	}
	p->sealed_len = (nr - 1) * (size_t)(CRYPT_CHUNK + CRYPT_TAG_LEN) + chunk_len(s, first + nr - 1);
	p->plain_len = p->sealed_len - nr * (size_t)CRYPT_TAG_LEN;
	return crypt_read_exact(s->fd, p->sealed, p->sealed_len,
				CRYPT_HDR_LEN + first * (off_t)(CRYPT_CHUNK + CRYPT_TAG_LEN), s->name);
}

static void post(struct bulk *b, struct piece *p)
{
	crypt_engine_post(&b->engine, &p->job, run_chunk, b, p->job.units);
}

/* Write p out: the chunks to the image, or the plaintext to the memfd. */
static int store(struct bulk *b, struct piece *p)
{
	struct crypt_stream *s = b->s;
	uint64_t bad;

	if (b->seal) {
		if (write_out(s, p->sealed, p->sealed_len))
			return -1;
		s->chunk += p->job.units;
		return 0;
	}
	bad = __atomic_load_n(&b->bad, __ATOMIC_RELAXED);
	if (bad != UINT64_MAX) {
		set_cr_errno(EBADMSG);
		pr_err("%s: authentication failed at chunk %" PRIu64 " (tampered, truncated or not of this checkpoint)\n",
		       s->name, bad);
		return -1;
	}
	return crypt_write_all(b->fd, p->plain, p->plain_len, s->name);
}

/* nr chunks from the next one of s, between s and fd (from off when sealing) */
static int bulk(struct crypt_stream *s, int fd, off_t off, uint64_t nr)
{
	const size_t piece = PIECE_CHUNKS * (size_t)(2 * CRYPT_CHUNK + CRYPT_TAG_LEN);
	struct bulk b = { .s = s, .fd = fd, .seal = s->writing, .bad = UINT64_MAX };
	uint64_t first = s->chunk, end = first + nr;
	struct piece *cur = &b.p[0], *next;
	int i, ret;

	b.mem_len = 2 * piece;
	b.mem = crypt_buf_get(b.mem_len);
	if (!b.mem)
		return -1;
	for (i = 0; i < 2; i++) {
		b.p[i].plain = b.mem + i * piece;
		b.p[i].sealed = b.p[i].plain + PIECE_CHUNKS * (size_t)CRYPT_CHUNK;
	}
	crypt_engine_init(&b.engine);
	crypt_engine_start(&b.engine);

	ret = load(&b, cur, first, min_t(uint64_t, nr, PIECE_CHUNKS), off);
	if (!ret)
		post(&b, cur);
	while (!ret) {
		uint64_t at = cur->first + cur->job.units;

		next = NULL;
		if (at < end) {
			next = cur == &b.p[0] ? &b.p[1] : &b.p[0];
			ret = load(&b, next, at, min_t(uint64_t, end - at, PIECE_CHUNKS),
				   off + (at - first) * CRYPT_CHUNK);
		}
		crypt_engine_wait(&b.engine, &cur->job);
		if (ret)
			break;
		if (next)
			post(&b, next);
		ret = store(&b, cur);
		if (!next)
			break;
		cur = next;
	}
	/* the helper runs the rest of a piece posted before a failure, then stops */
	crypt_engine_fini(&b.engine);
	crypt_wipe(b.mem, b.mem_len);
	crypt_buf_put(b.mem, b.mem_len);
	if (ret)
		return -1;
	if (!s->writing) {
		s->chunk = end;
		s->done = end == s->nr_chunks;
		s->len = s->pos = 0;
	}
	return 0;
}

/* Seal len bytes of fd, from off, as the next plaintext of the image. */
int crypt_stream_write_from(struct crypt_stream *s, int fd, off_t off, off_t len)
{
	off_t end = off + len;
	size_t n;

	while (off < end) {
		/* as in crypt_stream_write(): a full chunk is sealed once more data follows */
		if (s->len == CRYPT_CHUNK && seal_chunk(s, s->buf, s->len, false))
			return -1;
		/* whole chunks in bulk, never the last one */
		if (!s->len && end - off > BULK_MIN * CRYPT_CHUNK) {
			n = (end - off - 1) / CRYPT_CHUNK;
			if (bulk(s, fd, off, n))
				return -1;
			off += n * (off_t)CRYPT_CHUNK;
			continue;
		}
		/* the rest, and the chunk begun through bfd, straight into s->buf */
		n = min_t(off_t, end - off, CRYPT_CHUNK - s->len);
		if (crypt_read_exact(fd, s->buf + s->len, n, off, s->name))
			return -1;
		s->len += n;
		if (s->used < s->len)
			s->used = s->len;
		off += n;
	}
	return 0;
}

/* Seal all of fd (the memfd of a raw user) as the rest of the image. */
int crypt_stream_write_fd(struct crypt_stream *s, int fd)
{
	struct stat st;

	if (fstat(fd, &st)) {
		pr_perror("%s: can't stat its memfd", s->name);
		return -1;
	}
	return crypt_stream_write_from(s, fd, 0, st.st_size);
}

/*
 * Open the next len bytes of the image into fd, at its offset, or all
 * that is left when len < 0; no byte of a chunk is written before the
 * chunk is authenticated.
 */
int crypt_stream_read_to(struct crypt_stream *s, int fd, off_t len)
{
	bool all = len < 0;
	uint64_t n;

	while (all || len) {
		if (s->pos == s->len) {
			if (s->done) {
				if (all)
					return 0;
				pr_err("%s: %lld bytes short\n", s->name, (long long)len);
				return -1;
			}
			/* whole chunks in bulk; for a part of the image, never the last one */
			n = s->nr_chunks - s->chunk;
			if (!all)
				n = min_t(uint64_t, len / CRYPT_CHUNK, n - 1);
			if (n >= BULK_MIN) {
				if (bulk(s, fd, 0, n))
					return -1;
				if (!all)
					len -= n * CRYPT_CHUNK;
				continue;
			}
			if (read_chunk(s, s->chunk))
				return -1;
		}
		n = s->len - s->pos;
		if (!all && n > len)
			n = len;
		if (crypt_write_all(fd, s->buf + s->pos, n, s->name))
			return -1;
		s->pos += n;
		if (!all)
			len -= n;
	}
	return 0;
}
