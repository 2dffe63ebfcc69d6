/*
 * Post-copy migration of an encrypted dump: 'criu dump --lazy-pages'
 * leaves the pages the tasks can fault in later out of the page images,
 * and serves them from memory to the lazy-pages daemon on the target as
 * it asks for them.  They go sealed with keys of their own, derived from
 * the checkpoint key as a page image's are, for the page image name
 * "lazy-pages-<id>" of task id and a salt of zeros: page j of it is the
 * page at address j * 4096, so that each page is sealed on its own when it
 * is asked for, and bound to its checkpoint, task and address.  The tags
 * follow the pages on the wire.  See "Page servers" in
 * Documentation/encryption-format.txt.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "cr_options.h"
#include "log.h"
#include "servicefd.h"
#include "tls.h"
#include "util.h"
#include "common/xmalloc.h"
#include "crypt-private.h"

/* at most so many pages an answer: the daemon asks for far fewer */
#define LAZY_MAX_PAGES 4096

/* the keys of the task last asked for: a daemon asks for one task's pages at a time */
static struct crypt_pages *lazy_keys;
static unsigned long lazy_id;

static struct crypt_pages *keys_of(unsigned long id)
{
	uint8_t salt[CRYPT_NONCE_LEN] = {};
	char name[32];
	struct crypt_dir *d;
	struct crypt_ctx *ctx;

	if (lazy_keys && lazy_id == id)
		return lazy_keys;
	crypt_pages_free(lazy_keys);
	lazy_keys = NULL;
	if (crypt_dir_lookup(get_service_fd(IMG_FD_OFF), &d))
		return NULL;
	ctx = crypt_dir_ctx(d);
	if (!ctx) {
		pr_err("lazy pages: the images directory is not an encrypted checkpoint\n");
		return NULL;
	}
	snprintf(name, sizeof(name), "lazy-pages-%lu", id);
	lazy_keys = crypt_pages_new(ctx, name, salt);
	if (lazy_keys)
		crypt_pages_by_address(lazy_keys);
	lazy_id = id;
	return lazy_keys;
}

static int send_out(int sk, const void *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = opts.tls ? tls_send(buf, len, 0) : write(sk, buf, len);
		if (n <= 0) {
			pr_perror("lazy pages: can't send pages");
			return -1;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Dump --lazy-pages: nr pages of task id at vaddr, from the pipe p, to the
 * daemon on sk, sealed, then their tags.
 */
int crypt_lazy_send(int sk, int p, unsigned long id, unsigned long vaddr, unsigned long nr)
{
	size_t len = nr * CRYPT_PAGE_SIZE, got = 0;
	uint8_t *buf = NULL, *tags = NULL;
	struct crypt_pages *cp;
	int ret = -1;

	if (!nr || nr > LAZY_MAX_PAGES || vaddr % CRYPT_PAGE_SIZE) {
		pr_err("lazy pages: %lu pages at %lx refused\n", nr, vaddr);
		return -1;
	}
	cp = keys_of(id);
	buf = xmalloc(len);
	tags = xmalloc(nr * CRYPT_TAG_LEN);
	if (!cp || !buf || !tags)
		goto out;
	while (got < len) {
		ssize_t n = read(p, buf + got, len - got);

		if (n <= 0) {
			pr_perror("lazy pages: can't read pages of task %lu", id);
			goto out;
		}
		got += n;
	}
	if (crypt_pages_seal(cp, vaddr / CRYPT_PAGE_SIZE, buf, nr, tags))
		goto out;
	ret = send_out(sk, buf, len) || send_out(sk, tags, nr * CRYPT_TAG_LEN) ? -1 : 0;
out:
	if (buf && ret)
		crypt_wipe(buf, len);
	xfree(buf);
	xfree(tags);
	return ret;
}

/*
 * The lazy-pages daemon: nr pages of task id at vaddr that a dump sent, with
 * their tags, authenticated and decrypted in place.
 */
int crypt_lazy_open(unsigned long id, unsigned long vaddr, void *buf, unsigned long nr, const uint8_t *tags)
{
	struct crypt_pages *cp;

	if (vaddr % CRYPT_PAGE_SIZE) {
		pr_err("lazy pages: pages at %lx refused\n", vaddr);
		return -1;
	}
	cp = keys_of(id);
	return cp ? crypt_pages_open(cp, vaddr / CRYPT_PAGE_SIZE, buf, nr, tags) : -1;
}
