/*
 * Page images on their way through the page cipher (crypt-page.c): the
 * writer that seals the pages of a dump on two cores, and the reader that
 * authenticates and decrypts them at restore, in pieces, straight into
 * the restored memory.  The tags go to and come from pagetags.img
 * (crypt-tags.c); crypt-image.c opens the images.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "common/compiler.h"
#include "common/xmalloc.h"
#include "crypt-private.h"

/*
 * Dump: pages go from the page pipe to the image through a ring of
 * batches.  The main thread reads batches from the pipe and writes them to
 * the image, in order, while the worker-thread engine (crypt-work.c) seals
 * them, so that the cipher runs on the other core, alongside the copies.
 * A batch is a job of units of UNIT_PAGES pages; the main thread seals
 * too when it would otherwise wait for a batch to write.  Batches fill
 * across calls (scattered memory comes a few pages at a time); the last
 * ones are written when the image is closed.  An image of one batch or
 * less starts no thread.  Into a regular file, the thread that sealed a
 * unit also writes it, at its place: the copy into the page cache then
 * reads pages from its own core's cache, not from the other's (a copy of
 * lines another core has just written ran several times slower, and
 * varied from run to run, bench/README.md), and both cores share it.
 */
#define PAGE_BATCH 256 /* pages: 1 MiB, sealed while in the cache */
#define NR_BATCHES 4
#define RING_SIZE  (NR_BATCHES * PAGE_BATCH * CRYPT_PAGE_SIZE)
#define UNIT_PAGES 32 /* pages sealed by one thread at a time */

struct page_batch {
	struct crypt_job job;
	uint8_t *buf;
	uint64_t first;	  /* image index of its first page */
	unsigned long nr; /* pages in it */
	uint8_t tags[PAGE_BATCH * CRYPT_TAG_LEN];
};

struct page_writer {
	struct page_batch b[NR_BATCHES];
	uint8_t *ring;
	uint64_t next_page; /* pages read from the pipe */
	/* batches [written, queued) are queued, b[queued % NR_BATCHES] is filling unless all are queued */
	uint64_t queued, written;
	struct crypt_engine engine;
	/* GnuTLS handles are one thread's each: the main thread's, the helper's */
	struct crypt_pages *pages[2];
	const struct crypt_ctx *ctx;
	int fd;			   /* the page image, or a page server's socket */
	crypt_out_fn out;	   /* how to write to fd, or NULL: write() */
	bool at_place;		   /* fd is a file: units write themselves with pwrite() */
	off_t base;		   /* where page 0 goes in it */
	struct crypt_stream *tags; /* pagetags.img */
	char *name;
	uint8_t salt[CRYPT_NONCE_LEN];
	bool failed;   /* a write failed (and said so): the image is lost */
	int err;       /* a unit failed to seal */
	int write_err; /* a unit failed to write: its errno */
};

static void seal_unit(struct crypt_job *job, unsigned int part, int thread)
{
	struct page_batch *b = container_of(job, struct page_batch, job);
	struct page_writer *pw = job->arg;
	unsigned long first = part * UNIT_PAGES, nr = min_t(unsigned long, UNIT_PAGES, b->nr - first);

	uint8_t *buf = b->buf + first * CRYPT_PAGE_SIZE;
	size_t len = nr * CRYPT_PAGE_SIZE, done = 0;
	off_t off = pw->base + (b->first + first) * CRYPT_PAGE_SIZE;
	ssize_t ret;

	if (crypt_pages_seal_quiet(pw->pages[thread], b->first + first, buf, nr, b->tags + first * CRYPT_TAG_LEN)) {
		__atomic_store_n(&pw->err, -1, __ATOMIC_RELAXED);
		return;
	}
	while (pw->at_place && done < len) {
		ret = pwrite(pw->fd, buf + done, len - done, off + done);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0) {
			__atomic_store_n(&pw->write_err, ret < 0 ? errno : ENOSPC, __ATOMIC_RELAXED);
			return;
		}
		done += ret;
	}
}

static void start_helper(struct page_writer *pw)
{
	pw->pages[1] = crypt_pages_new(pw->ctx, pw->name, pw->salt);
	if (!pw->pages[1] || !crypt_engine_start(&pw->engine))
		pr_debug("%s: encrypting pages on one thread\n", pw->name);
}

struct page_writer *crypt_page_writer_new(const struct crypt_ctx *ctx, struct crypt_pages *pages, const char *name,
					  const uint8_t *salt, int fd, struct crypt_stream *tags)
{
	struct page_writer *pw;
	struct stat st;
	int i;

	pw = xzalloc(sizeof(*pw));
	if (!pw)
		return NULL;
	pw->name = xstrdup(name);
	pw->ring = crypt_buf_get(RING_SIZE);
	if (!pw->name || !pw->ring) {
		crypt_buf_put(pw->ring, RING_SIZE);
		xfree(pw->name);
		xfree(pw);
		return NULL;
	}
	for (i = 0; i < NR_BATCHES; i++)
		pw->b[i].buf = pw->ring + i * PAGE_BATCH * CRYPT_PAGE_SIZE;
	pw->pages[0] = pages;
	pw->ctx = ctx;
	pw->fd = fd;
	pw->tags = tags;
	/* pwrite() to a file opened O_APPEND appends */
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && !(fcntl(fd, F_GETFL) & O_APPEND)) {
		pw->base = lseek(fd, 0, SEEK_CUR);
		pw->at_place = pw->base >= 0;
	}
	memcpy(pw->salt, salt, sizeof(pw->salt));
	crypt_engine_init(&pw->engine);
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
	crypt_engine_fini(&pw->engine);
	/* after a failure, a batch may still hold plaintext */
	if (pw->written != pw->queued || filling_pages(pw))
		crypt_wipe(pw->ring, RING_SIZE);
	crypt_buf_put(pw->ring, RING_SIZE);
	crypt_pages_free(pw->pages[1]);
	xfree(pw->name);
	xfree(pw);
}

/* Queue the filling batch for sealing; the helper starts with the first full one. */
static void queue_batch(struct page_writer *pw, bool last)
{
	struct page_batch *b = &pw->b[pw->queued % NR_BATCHES];

	if (!pw->queued && !last)
		start_helper(pw);
	crypt_engine_post(&pw->engine, &b->job, seal_unit, pw, DIV_ROUND_UP(b->nr, UNIT_PAGES));
	pw->queued++;
}

/* Write the oldest batch and its tags, once it is sealed. */
static int write_batch(struct page_writer *pw)
{
	struct page_batch *b = &pw->b[pw->written % NR_BATCHES];
	size_t len = b->nr * CRYPT_PAGE_SIZE;

	if (pw->failed)
		return -1;
	crypt_engine_wait(&pw->engine, &b->job);
	if (__atomic_load_n(&pw->err, __ATOMIC_RELAXED)) {
		pr_err("%s: can't encrypt pages %" PRIu64 "-%" PRIu64 " or before\n", pw->name, b->first,
		       b->first + b->nr - 1);
		return -1;
	}
	errno = __atomic_load_n(&pw->write_err, __ATOMIC_RELAXED);
	if (errno ||
	    (!pw->at_place && (pw->out ? pw->out(pw->fd, b->buf, len) : write_all(pw->fd, b->buf, len) != len))) {
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

/* Writes to fd go through out instead of write(): a page server's socket under TLS */
void crypt_page_writer_out(struct page_writer *pw, crypt_out_fn out)
{
	pw->out = out;
	pw->at_place = false;
}

/* Every page added so far written out: on a socket, before what follows them */
int crypt_page_writer_sync(struct page_writer *pw)
{
	if (pw->failed)
		return -1;
	if (filling_pages(pw))
		queue_batch(pw, true);
	while (pw->written < pw->queued)
		if (write_batch(pw))
			return -1;
	/* what follows the pages in the file (nothing, so far) goes after them */
	if (pw->at_place && lseek(pw->fd, pw->base + pw->next_page * CRYPT_PAGE_SIZE, SEEK_SET) < 0) {
		pr_perror("%s: can't seek past the pages", pw->name);
		pw->failed = true;
		return -1;
	}
	return 0;
}

/* At the close of a page image written: the batches still in the ring */
int crypt_page_writer_flush(struct page_writer *pw)
{
	if (crypt_page_writer_sync(pw))
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

/*
 * Restore: pages the lazy-pages daemon got from a page server, nr from
 * page index first of the image, authenticated and decrypted in place.
 */
int crypt_page_reader_open(struct page_reader *pr, void *buf, uint64_t first, unsigned long nr)
{
	if (first > pr->nr || nr > pr->nr - first) {
		pr_err("%s: pages %" PRIu64 "-%" PRIu64 " have no tags\n", crypt_pages_name(pr->pages), first,
		       first + nr - 1);
		return -1;
	}
	return crypt_pages_open(pr->pages, first, buf, nr, pr->tags + first * CRYPT_TAG_LEN);
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
