/*
 * Page images on their way through the page cipher (crypt-page.c): the
 * writer that seals the pages of a dump on two cores, and the reader that
 * authenticates and decrypts them at restore, in pieces, straight into
 * the restored memory; and pagetags.img, where the tags of all page images
 * of a checkpoint are.  crypt-image.c opens the images.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "common/compiler.h"
#include "common/xmalloc.h"
#include "crypt.h"

#undef LOG_PREFIX
#define LOG_PREFIX "crypt: "

/*
 * Dump: pages go from the page pipe to the image through a ring of
 * batches.  The main thread reads batches from the pipe and writes them to
 * the image, in order, while a worker thread seals them, so that the
 * cipher runs on the other core, alongside the copies.  Sealing is cut in
 * units of a batch that either thread takes, oldest first: the main thread
 * seals too when it would otherwise wait for a batch to write.  Batches
 * fill across calls (scattered memory comes a few pages at a time); the
 * last ones are written when the image is closed.  An image of one batch
 * or less starts no thread.
 */
#define PAGE_BATCH 256 /* pages: 1 MiB, sealed while in the cache */
#define NR_BATCHES 4
#define RING_SIZE  (NR_BATCHES * PAGE_BATCH * CRYPT_PAGE_SIZE)
#define UNIT_PAGES 32 /* pages sealed by one thread at a time */

struct page_batch {
	uint8_t *buf;
	uint64_t first;	    /* image index of its first page */
	unsigned long nr;   /* pages in it */
	unsigned int units; /* units of it not sealed yet */
	uint8_t tags[PAGE_BATCH * CRYPT_TAG_LEN];
};

struct page_writer {
	struct page_batch b[NR_BATCHES];
	uint8_t *ring;
	uint64_t next_page; /* pages read from the pipe */
	/*
	 * Batches [written, queued) are queued, b[queued % NR_BATCHES] is
	 * filling unless all are queued (filling_pages()); unit part of
	 * batch claim is the next one to seal.
	 */
	uint64_t queued, written, claim;
	unsigned long part;
	/* GnuTLS handles are one thread's each: the main thread's, the worker's */
	struct crypt_pages *pages, *wpages;
	const struct crypt_ctx *ctx;
	int fd;			   /* the page image */
	struct crypt_stream *tags; /* pagetags.img */
	char *name;
	uint8_t salt[CRYPT_NONCE_LEN];
	bool worker, stop;
	bool failed; /* a write failed (and said so): the image is lost */
	int err;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* Under the lock: take the next unit to seal, false when none is queued. */
static bool claim_unit(struct page_writer *pw, struct page_batch **b, unsigned long *part)
{
	if (pw->claim == pw->queued)
		return false;
	*b = &pw->b[pw->claim % NR_BATCHES];
	*part = pw->part++;
	if (pw->part * UNIT_PAGES >= (*b)->nr) {
		pw->claim++;
		pw->part = 0;
	}
	return true;
}

/* Seal a unit with the lock dropped; under the lock again, count it done. */
static void seal_unit(struct page_writer *pw, struct crypt_pages *cp, struct page_batch *b, unsigned long part)
{
	unsigned long first = part * UNIT_PAGES, nr = min_t(unsigned long, UNIT_PAGES, b->nr - first);
	int err;

	pthread_mutex_unlock(&pw->lock);
	err = crypt_pages_seal_quiet(cp, b->first + first, b->buf + first * CRYPT_PAGE_SIZE, nr,
				     b->tags + first * CRYPT_TAG_LEN);
	pthread_mutex_lock(&pw->lock);
	if (err)
		pw->err = -1;
	if (!--b->units)
		pthread_cond_broadcast(&pw->cond);
}

static void *page_worker(void *arg)
{
	struct page_writer *pw = arg;
	struct page_batch *b;
	unsigned long part;

	pthread_mutex_lock(&pw->lock);
	while (1) {
		if (claim_unit(pw, &b, &part))
			seal_unit(pw, pw->wpages, b, part);
		else if (pw->stop)
			break;
		else
			pthread_cond_wait(&pw->cond, &pw->lock);
	}
	pthread_mutex_unlock(&pw->lock);
	return NULL;
}

static void start_worker(struct page_writer *pw)
{
	pw->wpages = crypt_pages_new(pw->ctx, pw->name, pw->salt);
	if (pw->wpages && !crypt_thread_start(&pw->thread, page_worker, pw))
		pw->worker = true;
	else
		pr_debug("%s: encrypting pages on one thread\n", pw->name);
}

struct page_writer *crypt_page_writer_new(const struct crypt_ctx *ctx, struct crypt_pages *pages, const char *name,
					  const uint8_t *salt, int fd, struct crypt_stream *tags)
{
	struct page_writer *pw;
	int i;

	pw = xzalloc(sizeof(*pw));
	if (!pw)
		return NULL;
	pw->name = xstrdup(name);
	pw->ring = crypt_buf_get(RING_SIZE);
	if (!pw->name || !pw->ring) {
		if (pw->ring)
			crypt_buf_put(pw->ring, RING_SIZE);
		xfree(pw->name);
		xfree(pw);
		return NULL;
	}
	for (i = 0; i < NR_BATCHES; i++)
		pw->b[i].buf = pw->ring + i * PAGE_BATCH * CRYPT_PAGE_SIZE;
	pw->pages = pages;
	pw->ctx = ctx;
	pw->fd = fd;
	pw->tags = tags;
	memcpy(pw->salt, salt, sizeof(pw->salt));
	pthread_mutex_init(&pw->lock, NULL);
	pthread_cond_init(&pw->cond, NULL);
	return pw;
}

/*
 * Pages in the batch that is filling.  With all NR_BATCHES batches queued
 * none is: b[queued % NR_BATCHES] is then the oldest queued batch, still
 * to be written, and the next page first writes it out.
 */
static unsigned long filling_pages(const struct page_writer *pw)
{
	if (pw->queued - pw->written == NR_BATCHES)
		return 0;
	return pw->b[pw->queued % NR_BATCHES].nr;
}

void crypt_page_writer_free(struct page_writer *pw)
{
	if (!pw)
		return;
	if (pw->worker) {
		pthread_mutex_lock(&pw->lock);
		pw->stop = true;
		pthread_cond_broadcast(&pw->cond);
		pthread_mutex_unlock(&pw->lock);
		pthread_join(pw->thread, NULL);
	}
	/* after a failure, a batch may still hold plaintext */
	if (pw->written != pw->queued || filling_pages(pw))
		crypt_wipe(pw->ring, RING_SIZE);
	crypt_buf_put(pw->ring, RING_SIZE);
	crypt_pages_free(pw->wpages);
	pthread_cond_destroy(&pw->cond);
	pthread_mutex_destroy(&pw->lock);
	xfree(pw->name);
	xfree(pw);
}

/* Queue the filling batch for sealing; the worker starts with the first full one. */
static void queue_batch(struct page_writer *pw, bool last)
{
	struct page_batch *b = &pw->b[pw->queued % NR_BATCHES];

	if (!pw->worker && !pw->queued && !last)
		start_worker(pw);
	pthread_mutex_lock(&pw->lock);
	b->units = DIV_ROUND_UP(b->nr, UNIT_PAGES);
	pw->queued++;
	pthread_cond_broadcast(&pw->cond);
	pthread_mutex_unlock(&pw->lock);
}

/* Write the oldest batch and its tags, sealing what is left of it first. */
static int write_batch(struct page_writer *pw)
{
	struct page_batch *b = &pw->b[pw->written % NR_BATCHES], *u;
	size_t len = b->nr * CRYPT_PAGE_SIZE;
	unsigned long part;
	int err;

	if (pw->failed)
		return -1;
	pthread_mutex_lock(&pw->lock);
	while (b->units) {
		/* oldest first: a unit of b, or a later one while the worker seals b's last */
		if (claim_unit(pw, &u, &part))
			seal_unit(pw, pw->pages, u, part);
		else
			pthread_cond_wait(&pw->cond, &pw->lock);
	}
	err = pw->err;
	pthread_mutex_unlock(&pw->lock);
	if (err) {
		pr_err("%s: can't encrypt pages %" PRIu64 "-%" PRIu64 " or before\n", pw->name, b->first,
		       b->first + b->nr - 1);
		return -1;
	}
	if (write_all(pw->fd, b->buf, len) != len) {
		pr_perror("%s: can't write pages %" PRIu64 "-%" PRIu64, pw->name, b->first, b->first + b->nr - 1);
		pw->failed = true;
		return -1;
	}
	if (crypt_tags_record(pw->tags, pw->name, pw->salt, b->tags, b->nr))
		return -1;
	b->nr = 0;
	pw->written++;
	return 0;
}

/* Dump: len bytes of pages from the pipe p, to be sealed and written, in order */
int crypt_page_writer_add(struct page_writer *pw, int p, unsigned long len)
{
	if (len % CRYPT_PAGE_SIZE) {
		pr_err("Pages of %lu bytes\n", len);
		return -1;
	}
	while (len) {
		struct page_batch *b;
		unsigned long n;

		/* the batch to fill is the oldest one: write it out first */
		if (pw->queued - pw->written == NR_BATCHES && write_batch(pw))
			return -1;
		b = &pw->b[pw->queued % NR_BATCHES];
		if (!b->nr)
			b->first = pw->next_page;
		n = min_t(unsigned long, len, (PAGE_BATCH - b->nr) * CRYPT_PAGE_SIZE);
		if (read_all(p, b->buf + b->nr * CRYPT_PAGE_SIZE, n) != n) {
			pr_perror("Can't read pages from a page pipe");
			return -1;
		}
		b->nr += n / CRYPT_PAGE_SIZE;
		pw->next_page += n / CRYPT_PAGE_SIZE;
		len -= n;
		if (b->nr == PAGE_BATCH)
			queue_batch(pw, false);
	}
	return 0;
}

/* At the close of a page image written: the batches still in the ring */
int crypt_page_writer_flush(struct page_writer *pw)
{
	if (pw->failed)
		return -1;
	if (filling_pages(pw))
		queue_batch(pw, true);
	while (pw->written < pw->queued)
		if (write_batch(pw))
			return -1;
	/* an image without pages has a record too: no image goes without */
	if (!pw->written)
		return crypt_tags_record(pw->tags, pw->name, pw->salt, NULL, 0);
	return 0;
}

#define READ_CHUNK (64 * CRYPT_PAGE_SIZE) /* restore: pages read at once, 256 KiB */

struct page_reader {
	int fd;
	struct crypt_pages *pages;
	const uint8_t *tags; /* of every page, read by crypt-image.c */
	uint64_t nr;	     /* pages the tags cover */
	void *bounce;	     /* pages on their way into place */
	size_t bounce_used;  /* bytes of it used, to wipe */
	bool vm_writev;	     /* process_vm_writev() works */
	pid_t self;	     /* for process_vm_writev() */
};

struct page_reader *crypt_page_reader_new(struct crypt_pages *pages, int fd, const uint8_t *tags, uint64_t nr)
{
	struct page_reader *pr = xzalloc(sizeof(*pr));

	if (!pr)
		return NULL;
	pr->fd = fd;
	pr->pages = pages;
	pr->tags = tags;
	pr->nr = nr;
	return pr;
}

void crypt_page_reader_free(struct page_reader *pr)
{
	if (!pr)
		return;
	if (pr->bounce)
		crypt_wipe(pr->bounce, pr->bounce_used);
	xfree(pr->bounce);
	xfree(pr);
}

/*
 * Restore: nr pages from page index first, authenticated and decrypted,
 * to dst.  The pages are read into a buffer that stays in the cache,
 * opened there, and copied into place by the kernel: process_vm_writev()
 * fills the restored memory through the kernel's own mapping, faulting its
 * pages in as it goes, which costs far less than a fault per page taken by
 * a copy in user space (several times less on a virtual machine).
 */
static int read_pages(struct page_reader *pr, void *dst, uint64_t first, unsigned long nr)
{
	size_t len = nr * CRYPT_PAGE_SIZE, got = 0;
	struct iovec from = { pr->bounce, len }, to = { dst, len };
	ssize_t ret;

	while (got < len) {
		ret = pread(pr->fd, pr->bounce + got, len - got, first * CRYPT_PAGE_SIZE + got);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0) {
			pr_perror("Can't read pages %" PRIu64 "-%" PRIu64, first, first + nr - 1);
			return -1;
		}
		got += ret;
	}
	if (pr->bounce_used < len)
		pr->bounce_used = len;
	if (crypt_pages_open(pr->pages, first, pr->bounce, nr, pr->tags + first * CRYPT_TAG_LEN))
		return -1;
	if (pr->vm_writev) {
		ret = process_vm_writev(pr->self, &from, 1, &to, 1, 0);
		if (ret == len)
			return 0;
		if (ret >= 0 || (errno != ENOSYS && errno != EPERM)) {
			pr_perror("Can't put pages %" PRIu64 "-%" PRIu64 " in place (%zd)", first, first + nr - 1,
				  ret);
			return -1;
		}
		pr->vm_writev = false;
	}
	memcpy(dst, pr->bounce, len);
	return 0;
}

/* Restore: like preadv() on the page image, but every page authenticated and decrypted */
ssize_t crypt_page_reader_preadv(struct page_reader *pr, const struct iovec *iov, int nr, off_t off)
{
	ssize_t done = 0;
	int i;

	if (!pr->bounce) {
		/* no bigger than the image: most are small */
		pr->bounce = xmalloc(min_t(size_t, READ_CHUNK, pr->nr * CRYPT_PAGE_SIZE) ?: 1);
		if (!pr->bounce)
			return -1;
		pr->vm_writev = true;
		/* here, in the task that reads: not at open, which may be before a fork */
		pr->self = getpid();
	}
	for (i = 0; i < nr; i++) {
		size_t left = iov[i].iov_len;
		void *dst = iov[i].iov_base;

		while (left) {
			size_t n = min_t(size_t, left, READ_CHUNK);
			uint64_t first = (off + done) / CRYPT_PAGE_SIZE;

			if ((off + done) % CRYPT_PAGE_SIZE || n % CRYPT_PAGE_SIZE ||
			    first + n / CRYPT_PAGE_SIZE > pr->nr) {
				pr_err("%s: %#zx bytes at %#llx are not whole pages of the image, or have no tags\n",
				       crypt_pages_name(pr->pages), n, (unsigned long long)(off + done));
				return -1;
			}
			if (read_pages(pr, dst, first, n / CRYPT_PAGE_SIZE))
				return -1;
			dst += n;
			left -= n;
			done += n;
		}
	}
	return done;
}

/*
 * pagetags.img: the salt and tags of every page image of a checkpoint, as
 * records "L || name || salt || k || k tags" (Documentation/encryption.txt).
 * The writer appends a record per batch written, so the tags of an image
 * are those of its records, in order; images may interleave.
 */
#define REC_HDR_MAX (1 + 255 + CRYPT_NONCE_LEN + 4)

int crypt_tags_record(struct crypt_stream *cs, const char *name, const uint8_t *salt, const uint8_t *tags,
		      uint32_t nr)
{
	uint8_t hdr[REC_HDR_MAX];
	size_t l = strlen(name);
	uint32_t k = htobe32(nr);

	if (!l || l > 255) {
		pr_err("%s: a name too long for %s\n", name, CRYPT_TAGS_IMG);
		return -1;
	}
	hdr[0] = l;
	memcpy(hdr + 1, name, l);
	memcpy(hdr + 1 + l, salt, CRYPT_NONCE_LEN);
	memcpy(hdr + 1 + l + CRYPT_NONCE_LEN, &k, 4);
	if (crypt_stream_write(cs, hdr, 1 + l + CRYPT_NONCE_LEN + 4) ||
	    crypt_stream_write(cs, tags, (size_t)nr * CRYPT_TAG_LEN))
		return -1;
	return 0;
}

struct image_tags {
	char *name;
	uint8_t salt[CRYPT_NONCE_LEN];
	uint8_t *tags;
	uint64_t nr;
};

/* Restore: the page images of a checkpoint, sorted by name */
struct crypt_tagset {
	struct image_tags *img;
	size_t nr;
};

/* A record, as found in the plaintext */
struct tag_record {
	const uint8_t *name; /* L bytes */
	const uint8_t *salt;
	const uint8_t *tags;
	size_t len, at; /* L; its place in the plaintext */
	uint32_t k;
};

void crypt_tags_free(struct crypt_tagset *ts)
{
	size_t i;

	if (!ts)
		return;
	for (i = 0; i < ts->nr; i++) {
		xfree(ts->img[i].name);
		xfree(ts->img[i].tags);
	}
	xfree(ts->img);
	xfree(ts);
}

static int cmp_record_names(const struct tag_record *a, const struct tag_record *b)
{
	int c = memcmp(a->name, b->name, min(a->len, b->len));

	return c ?: (a->len > b->len) - (a->len < b->len);
}

/* by name, and in file order within a name */
static int cmp_records(const void *x, const void *y)
{
	const struct tag_record *a = x, *b = y;

	return cmp_record_names(a, b) ?: (a->at > b->at) - (a->at < b->at);
}

/* The records of p[0..size) in r[] (*nr): -1, the offset of a malformed one, or -2 out of memory */
static off_t split_records(const uint8_t *p, off_t size, struct tag_record **r, size_t *nr)
{
	size_t max = 0, hdr;
	struct tag_record *n;
	off_t off = 0;
	uint32_t be;

	*r = NULL;
	*nr = 0;
	while (off < size) {
		if (!p[off] || size - off < 1 + p[off] + CRYPT_NONCE_LEN + 4)
			return off;
		if (*nr == max) {
			n = xrealloc(*r, (max * 2 + 64) * sizeof(*n));
			if (!n)
				return -2;
			*r = n;
			max = max * 2 + 64;
		}
		n = &(*r)[(*nr)++];
		n->len = p[off];
		n->name = p + off + 1;
		n->salt = n->name + n->len;
		hdr = 1 + n->len + CRYPT_NONCE_LEN + 4;
		memcpy(&be, n->salt + CRYPT_NONCE_LEN, 4);
		n->k = be32toh(be);
		n->tags = p + off + hdr;
		n->at = off;
		if (memchr(n->name, '\0', n->len) || n->k > (size - off - hdr) / CRYPT_TAG_LEN)
			return off;
		off += hdr + (size_t)n->k * CRYPT_TAG_LEN;
	}
	return -1;
}

/*
 * The records r[0..nr) of one name, in order, as one image: 0, -1 when
 * out of memory, or the offset of a record with another salt.
 */
static off_t merge_records(struct image_tags *t, const struct tag_record *r, size_t nr)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < nr; i++) {
		if (memcmp(r[i].salt, r[0].salt, CRYPT_NONCE_LEN))
			return r[i].at;
		total += r[i].k;
	}
	t->name = xmalloc(r[0].len + 1);
	t->tags = xmalloc(total * CRYPT_TAG_LEN ?: 1);
	if (!t->name || !t->tags)
		return -1;
	memcpy(t->name, r[0].name, r[0].len);
	t->name[r[0].len] = '\0';
	memcpy(t->salt, r[0].salt, CRYPT_NONCE_LEN);
	for (i = 0; i < nr; i++) {
		memcpy(t->tags + t->nr * CRYPT_TAG_LEN, r[i].tags, (size_t)r[i].k * CRYPT_TAG_LEN);
		t->nr += r[i].k;
	}
	return 0;
}

static int cmp_images(const void *a, const void *b)
{
	return strcmp(((const struct image_tags *)a)->name, ((const struct image_tags *)b)->name);
}

/*
 * Restore: the records of the tags image name (cs), read whole, gathered
 * by page image, added to *ts (a new set when NULL); the caller frees *ts.
 */
int crypt_tags_load(struct crypt_tagset **ts, struct crypt_stream *cs, const char *name)
{
	off_t size = crypt_stream_size(cs), bad;
	struct tag_record *r = NULL;
	struct image_tags *img;
	uint8_t *buf = NULL;
	size_t nr, i, j, n;
	int ret = -1;

	if (!*ts && !(*ts = xzalloc(sizeof(**ts))))
		return -1;
	buf = xmalloc(size ?: 1);
	if (!buf || crypt_stream_read(cs, buf, size) != size)
		goto out;
	bad = split_records(buf, size, &r, &nr);
	if (bad == -2)
		goto out;
	if (bad >= 0)
		goto malformed;
	if (nr)
		qsort(r, nr, sizeof(*r), cmp_records);
	img = xrealloc((*ts)->img, ((*ts)->nr + nr + 1) * sizeof(*img));
	if (!img)
		goto out;
	(*ts)->img = img;
	for (i = 0; i < nr; i = j) {
		for (j = i + 1; j < nr && !cmp_record_names(&r[i], &r[j]); j++)
			;
		memset(&img[(*ts)->nr], 0, sizeof(*img));
		bad = merge_records(&img[(*ts)->nr++], r + i, j - i);
		if (bad < 0)
			goto out;
		if (bad > 0)
			goto malformed;
	}
	/* all the records of a page image are in one tags image */
	n = (*ts)->nr;
	qsort(img, n, sizeof(*img), cmp_images);
	for (i = 1; i < n; i++)
		if (!strcmp(img[i - 1].name, img[i].name)) {
			pr_err("%s: tags of %s, which another tags image has\n", name, img[i].name);
			goto out;
		}
	ret = 0;
	goto out;
malformed:
	pr_err("%s: malformed at byte %lld of its plaintext\n", name, (long long)bad);
out:
	xfree(r);
	xfree(buf);
	return ret;
}

static int cmp_image_names(const void *key, const void *t)
{
	return strcmp(key, ((const struct image_tags *)t)->name);
}

/* The salt and the nr tags of the page image name; false when it has none */
bool crypt_tags_find(const struct crypt_tagset *ts, const char *name, const uint8_t **salt, const uint8_t **tags,
		     uint64_t *nr)
{
	const struct image_tags *t = bsearch(name, ts->img, ts->nr, sizeof(*t), cmp_image_names);

	if (!t)
		return false;
	*salt = t->salt;
	*tags = t->tags;
	*nr = t->nr;
	return true;
}
