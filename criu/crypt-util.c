/*
 * What every part of the encryption module uses: the libraries set up
 * once, wiping, the one source of randomness, the one constant-time
 * compare, the buffer cache, threads and whole reads and writes.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gmp.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <sodium/core.h>
#include <sodium/utils.h>

#include "log.h"
#include "util.h"
#include "common/compiler.h"
#include "common/xmalloc.h"
#include "crypt-private.h"

void crypt_wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
}

/* GMP frees the limbs of the private key as it likes: wipe them first. */
static void *(*gmp_realloc)(void *, size_t, size_t);
static void (*gmp_free)(void *, size_t);

static void wiping_free(void *p, size_t len)
{
	crypt_wipe(p, len);
	gmp_free(p, len);
}

static void *wiping_realloc(void *p, size_t old, size_t new)
{
	void *n = (*gmp_realloc)(NULL, 0, new);

	if (n && p) {
		memcpy(n, p, old < new ? old : new);
		wiping_free(p, old);
	}
	return n;
}

static bool initialized;

/* Once per criu run, before any key is used. */
int crypt_init(void)
{
	if (initialized)
		return 0;
	if (sodium_init() < 0) {
		pr_err("Can't initialize libsodium\n");
		return -1;
	}
	mp_get_memory_functions(NULL, &gmp_realloc, &gmp_free);
	mp_set_memory_functions(NULL, wiping_realloc, wiping_free);
	initialized = true;
	return 0;
}

/*
 * Nettle's randomness (RSA blinding, ECDH's ephemeral keys): a failure is
 * remembered in *failed, and the operation fails.  Nettle draws until the
 * value it wants is in range (non-zero, invertible, below the order of the
 * curve), so what it gets then must be such a value, or it would never
 * return: small, but not zero.
 */
void crypt_nettle_random(void *failed, size_t len, uint8_t *dst)
{
	if (crypt_random(dst, len)) {
		memset(dst, 0x01, len);
		*(bool *)failed = true;
	}
}

/* Keys, ids, nonces and salts: GnuTLS's generator, which can fail (and says so). */
int crypt_random(void *buf, size_t len)
{
	int ret = gnutls_rnd(GNUTLS_RND_KEY, buf, len);

	if (ret < 0) {
		pr_err("Can't get random bytes: %s\n", gnutls_strerror(ret));
		return -1;
	}
	return 0;
}

/* Whether a and b are equal, in a time that does not depend on where they differ */
bool crypt_equal(const void *a, const void *b, size_t len)
{
	return memeql_sec(a, b, len);
}

/*
 * Buffers are kept for the next user of the same size: on a virtual
 * machine the first touch of each page of new memory costs a fault of
 * several microseconds, more than the cipher spends on the page.  Big
 * ones (pages on their way to an image, pieces of raw images) are mapped
 * and touched at once; small ones (a stream's chunk) are touched only as
 * far as they are used.  Their users wipe what plaintext they leave.
 */
#define BUF_SLOTS 8
#define BUF_BIG	  (1 << 20)

static struct {
	void *buf;
	size_t len;
} spare_bufs[BUF_SLOTS];

void *crypt_buf_get(size_t len)
{
	void *buf;
	int i;

	for (i = 0; i < ARRAY_SIZE(spare_bufs); i++)
		if (spare_bufs[i].buf && spare_bufs[i].len == len) {
			buf = spare_bufs[i].buf;
			spare_bufs[i].buf = NULL;
			return buf;
		}
	if (len < BUF_BIG)
		return xmalloc(len);
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf != MAP_FAILED)
		return buf;
	pr_perror("Can't allocate a buffer of %zu bytes", len);
	return NULL;
}

void crypt_buf_put(void *buf, size_t len)
{
	int i;

	if (!buf)
		return;
	for (i = 0; i < ARRAY_SIZE(spare_bufs); i++)
		if (!spare_bufs[i].buf) {
			spare_bufs[i].buf = buf;
			spare_bufs[i].len = len;
			return;
		}
	if (len < BUF_BIG)
		xfree(buf);
	else
		munmap(buf, len);
}

/*
 * Start fn(arg) on a thread of its own, with every signal blocked (criu's
 * handlers are for its main thread); -1, not logged, where that is not
 * possible: the caller does the work itself then.  Also in a task that a
 * restore forked, before it runs the restorer: the caller joins the
 * thread before it returns, and the restorer unmaps all of criu's memory,
 * the thread's cached stack with it.
 */
int crypt_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int ret;

	if (!initialized)
		return -1;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret ? -1 : 0;
}

/* All of buf to fd (CRIU's write_all()), or an error naming the file */
int crypt_write_all(int fd, const void *buf, size_t len, const char *name)
{
	if (write_all(fd, buf, len) == len)
		return 0;
	pr_perror("%s: can't write", name);
	return -1;
}

/* len bytes of fd at off, or an error naming the file: a short read is a truncation. */
int crypt_read_exact(int fd, void *buf, size_t len, off_t off, const char *name)
{
	ssize_t ret;

	while (len) {
		ret = pread(fd, buf, len, off);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0) {
			if (ret < 0)
				pr_perror("%s: can't read", name);
			else
				pr_err("%s: truncated while reading\n", name);
			return -1;
		}
		buf += ret;
		len -= ret;
		off += ret;
	}
	return 0;
}

/* The SHA-256 of the first len bytes of the file in, copied into out unless out < 0 */
int crypt_copy_hashed(int in, int out, off_t len, uint8_t *digest, const char *name)
{
	struct sha256_ctx h;
	uint8_t buf[16384];
	off_t off;
	size_t n;

	sha256_init(&h);
	for (off = 0; off < len; off += n) {
		n = min_t(off_t, sizeof(buf), len - off);
		if (crypt_read_exact(in, buf, n, off, name) || (out >= 0 && crypt_write_all(out, buf, n, name)))
			return -1;
		sha256_update(&h, n, buf);
	}
	sha256_digest(&h, CRYPT_HASH_LEN, digest);
	return 0;
}
