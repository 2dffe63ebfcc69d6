/*
 * The hooks of checkpoint encryption in CRIU's image I/O (crypt.h).
 *
 * An images directory is encrypted when it holds cipher.img.  Every image
 * opened in it, but cipher.img itself, the statistics and the page images,
 * is a sealed stream (crypt-stream.c) under the keys of that directory:
 * protobuf images through bfd, raw images through a memfd that holds the
 * plaintext while CRIU or an external tool works on it.  So a raw user
 * gets a real file (seekable, splice-able, sendfile-able) and, at restore,
 * sees no byte of an image before the whole image is authenticated.
 *
 * A page image keeps its layout, encrypted page by page (crypt-page.c),
 * so that offsets, holes punched by dedup and references from child
 * checkpoints stay valid; its tags, and the salt of its keys, go into one
 * sealed stream for the whole checkpoint, pagetags.img (or, for pages a
 * helper process dumps, pagetags-<id>.img).  How pages go through the page
 * cipher, at dump and at restore, is crypt-page-io.c's; what a directory
 * is (plain, or encrypted and with which keys), crypt-dir.c's.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cr_options.h"
#include "image.h"
#include "log.h"
#include "util.h"
#include "common/xmalloc.h"
#include "crypt-private.h"

struct crypt_file {
	struct crypt_stream *cs; /* the image, but for a page image */
	int raw_fd;		 /* the memfd handed to a raw user, or -1 */
	bool writing;

	/* a page image */
	int fd;
	struct crypt_pages *pages;
	struct page_writer *pw; /* dump */
	struct page_reader *pr; /* restore */
	int tags_fd;		/* dump in a helper process: pagetags-<id>.img */
};

/*
 * The crypt_file of every image comes from a pool of its own, not from
 * criu's heap: the root criu of a restore opens hundreds of images before
 * it forks, and a block of the heap taken and given back around each
 * leaves a hole per image, which each forked task's first small mallocs
 * then fill, one copy-on-write fault (16-20 us on a VM) after another.
 */
#define CF_POOL 4096

static struct crypt_file *cf_pool, *cf_free;
static unsigned int cf_pool_used;

static struct crypt_file *crypt_file_alloc(void)
{
	struct crypt_file *cf = NULL;

	if (cf_free) {
		cf = cf_free;
		cf_free = *(struct crypt_file **)cf;
	} else {
		if (!cf_pool) {
			cf_pool = mmap(NULL, CF_POOL * sizeof(*cf_pool), PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			if (cf_pool == MAP_FAILED)
				cf_pool = NULL;
		}
		if (cf_pool && cf_pool_used < CF_POOL)
			cf = &cf_pool[cf_pool_used++];
	}
	if (!cf)
		return xzalloc(sizeof(*cf));
	memset(cf, 0, sizeof(*cf));
	return cf;
}

static void crypt_file_free(struct crypt_file *cf)
{
	crypt_page_writer_free(cf->pw);
	crypt_page_reader_free(cf->pr);
	crypt_stream_free(cf->cs);
	crypt_pages_free(cf->pages);
	close_safe(&cf->tags_fd);
	close_safe(&cf->raw_fd);
	if (cf_pool && cf >= cf_pool && cf < cf_pool + CF_POOL) {
		*(struct crypt_file **)cf = cf_free;
		cf_free = cf;
	} else {
		xfree(cf);
	}
}

/*
 * The keys of a page image: at dump a new salt, its tags into
 * pagetags.img as they come; at restore its salt and tags from there.
 */
static int open_pages(struct crypt_file *cf, struct crypt_dir *d, int dfd, const char *path)
{
	struct crypt_ctx *ctx = crypt_dir_ctx(d);
	uint8_t new_salt[CRYPT_NONCE_LEN];
	struct crypt_stream *out = NULL;
	const uint8_t *salt, *tags;
	uint64_t nr = 0;
	struct stat st;

	if (cf->writing) {
		out = crypt_dir_tags_writer(dfd, d, &cf->tags_fd, path);
		if (!out)
			return -1;
		/* the helper's own tags stream goes with the image */
		if (cf->tags_fd >= 0)
			cf->cs = out;
		if (crypt_random(new_salt, sizeof(new_salt)))
			return -1;
		salt = new_salt;
	} else {
		if (crypt_dir_page_tags(dfd, d, path, &salt, &tags, &nr))
			return -1;
		if (fstat(cf->fd, &st) || st.st_size != nr * CRYPT_PAGE_SIZE) {
			pr_err("%s: %lld bytes, but %s has the tags of %" PRIu64 " pages (truncated or extended)\n",
			       path, (long long)st.st_size, CRYPT_TAGS_IMG, nr);
			return -1;
		}
	}
	cf->pages = crypt_pages_new(ctx, path, salt);
	if (!cf->pages)
		return -1;
	if (cf->writing)
		cf->pw = crypt_page_writer_new(ctx, cf->pages, path, salt, cf->fd, out);
	else
		cf->pr = crypt_page_reader_new(cf->pages, cf->fd, tags, nr);
	if (!cf->pw && !cf->pr)
		return -1;
	pr_debug("%s: %s, %" PRIu64 " tags\n", path, cf->writing ? "sealing pages" : "pages sealed", nr);
	return 0;
}

/*
 * Dump: move len bytes of pages from the pipe p to the page image,
 * encrypted, instead of splicing them.  They may reach the image later,
 * by the time it is closed.
 */
int crypt_pages_from_pipe(struct cr_img *img, int p, unsigned long len)
{
	return crypt_page_writer_add(img->_x.cf->pw, p, len);
}

/* Restore: like preadv() on the page image, but every page authenticated and decrypted */
ssize_t crypt_pages_preadv(struct cr_img *img, const struct iovec *iov, int nr, off_t off)
{
	return crypt_page_reader_preadv(img->_x.cf->pr, iov, nr, off);
}

/* Restore: len bytes of pages from off of the page image that came from a page server, opened in place */
int crypt_pages_open_at(struct cr_img *img, void *buf, size_t len, off_t off)
{
	struct crypt_file *cf = img->_x.cf;

	if (!cf->pr || off % CRYPT_PAGE_SIZE || len % CRYPT_PAGE_SIZE) {
		pr_err("%s: %#zx bytes at %#llx are not whole pages of it\n", crypt_pages_name(cf->pages), len,
		       (unsigned long long)off);
		return -1;
	}
	return crypt_page_reader_open(cf->pr, buf, off / CRYPT_PAGE_SIZE, len / CRYPT_PAGE_SIZE);
}

ssize_t crypt_pages_pread(struct cr_img *img, void *buf, size_t len, off_t off)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return crypt_pages_preadv(img, &iov, 1, off);
}

/*
 * Restore: len bytes of pages from off of the page image, authenticated
 * and decrypted, into fd at the same offset, for the restorer, which reads
 * some pages itself (mem.c) and can't decrypt.
 */
#define COPY_OUT_CHUNK (64 * CRYPT_PAGE_SIZE)

int crypt_pages_copy_out(struct cr_img *img, int fd, off_t off, size_t len)
{
	size_t size = min_t(size_t, len, COPY_OUT_CHUNK), done = 0, n, w;
	ssize_t ret;
	void *buf;

	buf = xmalloc(size ?: 1);
	if (!buf)
		return -1;
	while (done < len) {
		n = min_t(size_t, len - done, COPY_OUT_CHUNK);
		if (crypt_pages_pread(img, buf, n, off + done) != n)
			break;
		for (w = 0; w < n; w += ret) {
			ret = pwrite(fd, buf + w, n - w, off + done + w);
			if (ret <= 0) {
				pr_perror("Can't write decrypted pages at %lld", (long long)(off + done + w));
				break;
			}
		}
		if (w < n)
			break;
		done += n;
	}
	crypt_wipe(buf, size);
	xfree(buf);
	return done == len ? 0 : -1;
}

/*
 * Called by img_check_magic() for an image whose magic is wrong: say so
 * in one line if it is a sealed image (its directory has no cipher.img).
 */
bool crypt_image_sealed(const char *path, uint32_t magic)
{
	if (memcmp(&magic, CRYPT_MAGIC, sizeof(magic)))
		return false;
	pr_err("%s: an encrypted image, but there is no %s\n", path, CRYPT_CIPHER_IMG);
	return true;
}

/*
 * Restore: only what the dump wrote is read: a regular file the manifest
 * lists (a FIFO, a device or a symlink planted in its place is refused).
 */
static int check_listed(int dfd, int fd, const struct crypt_dir *d, const char *path)
{
	struct stat st, lst;

	if (fstat(fd, &st) || fstatat(dfd, path, &lst, AT_SYMLINK_NOFOLLOW)) {
		pr_perror("%s: can't stat", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || !S_ISREG(lst.st_mode)) {
		set_cr_errno(EBADMSG);
		pr_err("%s: not a regular file\n", path);
		return -1;
	}
	if (crypt_dir_listed(d) && !crypt_dir_lists(d, path)) {
		set_cr_errno(EBADMSG);
		pr_err("%s: not listed in %s (not written by this dump)\n", path, CRYPT_MANIFEST_IMG);
		return -1;
	}
	return 0;
}

/*
 * Whether images of this run are never sealed: a plain dump opens nothing
 * of the module, and a page server that receives pages stores them as
 * they come, encrypted or not: it never has a key (crypt-remote.c).
 */
static bool plain_run(void)
{
	if (opts.mode == CR_PAGE_SERVER)
		return !opts.lazy_pages;
	return !opts.encrypt && (opts.mode == CR_DUMP || opts.mode == CR_PRE_DUMP);
}

/*
 * Restore: a file a page server wrote, which the manifest vouches for by
 * its digest: read whole, checked, and then read from a memfd as a plain
 * image, so that no byte of it is used unchecked.
 */
static int open_vouched(struct crypt_file *cf, const uint8_t *digest, const char *path)
{
	uint8_t got[CRYPT_HASH_LEN];
	struct stat st;

	if (fstat(cf->fd, &st)) {
		pr_perror("%s: can't stat", path);
		return -1;
	}
	if (st.st_size > CRYPT_VOUCHED_MAX) {
		set_cr_errno(EBADMSG);
		pr_err("%s: too big (%lld bytes)\n", path, (long long)st.st_size);
		return -1;
	}
	cf->raw_fd = memfd_create("criu-image", MFD_CLOEXEC);
	if (cf->raw_fd < 0) {
		pr_perror("Can't create a memfd for an image");
		return -1;
	}
	if (crypt_copy_hashed(cf->fd, cf->raw_fd, st.st_size, got, path))
		return -1;
	if (!crypt_equal(got, digest, sizeof(got))) {
		set_cr_errno(EBADMSG);
		pr_err("%s: not what the dump sent the page server (its SHA-256 is not the one in %s)\n", path,
		       CRYPT_MANIFEST_IMG);
		return -1;
	}
	if (lseek(cf->raw_fd, 0, SEEK_SET)) {
		pr_perror("%s: can't seek", path);
		return -1;
	}
	return 0;
}

/* Called by do_open_image() for every image it opened (fd in img). */
int crypt_image_open(struct cr_img *img, int dfd, int type, int flags, const char *path)
{
	uint8_t digest[CRYPT_HASH_LEN];
	struct crypt_file *cf;
	struct crypt_ctx *ctx;
	struct crypt_dir *d;
	int vouched;

	img->_x.cf = NULL;
	/* stats: timings and counters only */
	if (type == CR_FD_CIPHER || type == CR_FD_STATS || plain_run())
		return 0;
	if (crypt_dir_lookup(dfd, &d))
		return -1;
	ctx = crypt_dir_ctx(d);
	if (!ctx)
		return 0;
	if ((flags & O_ACCMODE) != O_WRONLY && check_listed(dfd, img->_x.fd, d, path))
		return -1;

	cf = crypt_file_alloc();
	if (!cf)
		return -1;
	cf->raw_fd = -1;
	cf->tags_fd = -1;
	cf->fd = img->_x.fd;
	/* page images are opened O_RDWR at restore for --auto-dedup */
	cf->writing = (flags & O_ACCMODE) == O_WRONLY;
	vouched = cf->writing ? 0 : crypt_dir_digest(d, path, digest);
	if (vouched) {
		if (vouched < 0 || open_vouched(cf, digest, path)) {
			crypt_file_free(cf);
			return -1;
		}
	} else if (type == CR_FD_PAGES) {
		if (open_pages(cf, d, dfd, path)) {
			crypt_file_free(cf);
			return -1;
		}
	} else {
		if (cf->writing)
			cf->cs = crypt_stream_open_write(ctx, img->_x.fd, path);
		else
			cf->cs = crypt_stream_open_read(ctx, img->_x.fd, path);
		if (!cf->cs) {
			crypt_file_free(cf);
			return -1;
		}
	}
	if (cf->writing)
		crypt_dir_note_written(path);
	img->_x.cf = cf;
	return 0;
}

/* Called by do_open_image() for an image that is not there */
int crypt_image_missing(int dfd, int type, const char *path)
{
	uint8_t digest[CRYPT_HASH_LEN];
	struct crypt_dir *d;

	if (type == CR_FD_CIPHER || type == CR_FD_STATS || !*path || plain_run())
		return 0;
	if (crypt_dir_lookup(dfd, &d))
		return -1;
	if (!crypt_dir_listed(d) || !crypt_dir_lists(d, path))
		return 0;
	set_cr_errno(EBADMSG);
	if (crypt_dir_digest(d, path, digest) > 0)
		pr_err("%s: missing from the checkpoint (a page server wrote it: are its files here?)\n", path);
	else
		pr_err("%s: missing from the checkpoint (removed)\n", path);
	return -1;
}

bool crypt_image_pages(struct cr_img *img)
{
	return img->_x.cf && img->_x.cf->pages;
}

/*
 * Once a raw user has the memfd, every access goes through it: an image
 * may interleave entries read or written through bfd with raw data (pipe
 * data, ghost file chunks), and the memfd's offset keeps them in order.
 */
ssize_t crypt_file_read(struct crypt_file *cf, void *buf, size_t len)
{
	if (cf->raw_fd >= 0)
		return read_all(cf->raw_fd, buf, len);
	return crypt_stream_read(cf->cs, buf, len);
}

ssize_t crypt_file_write(struct crypt_file *cf, const void *buf, size_t len)
{
	if (cf->raw_fd >= 0)
		return write_all(cf->raw_fd, buf, len);
	return crypt_stream_write(cf->cs, buf, len) ? -1 : len;
}

/* The plaintext of the image as a memfd, for users of raw image fds */
int crypt_file_raw_fd(struct crypt_file *cf)
{
	/* the encrypted pages themselves (punching holes, crypt_pages_*()) */
	if (cf->pages)
		return cf->fd;
	if (cf->raw_fd >= 0)
		return cf->raw_fd;

	cf->raw_fd = memfd_create("criu-image", MFD_CLOEXEC);
	if (cf->raw_fd < 0) {
		pr_perror("Can't create a memfd for an image");
		return -1;
	}
	if (cf->writing)
		return cf->raw_fd;
	if (crypt_stream_read_to(cf->cs, cf->raw_fd, -1) || lseek(cf->raw_fd, 0, SEEK_SET)) {
		close_safe(&cf->raw_fd);
		return -1;
	}
	return cf->raw_fd;
}

/*
 * Ghost file chunks straight between the file and the sealed image, at
 * its place in the stream, instead of through the memfd: 1 when the image
 * is not sealed or a raw user has its memfd, and the caller copies.
 */
int crypt_image_copy_in(struct cr_img *img, int fd, off_t off, size_t len)
{
	struct crypt_file *cf = img->_x.cf;

	if (!cf || cf->pages || cf->raw_fd >= 0 || !cf->writing)
		return 1;
	pr_debug("%zu bytes at %lld of a file straight into a sealed image\n", len, (long long)off);
	return crypt_stream_write_from(cf->cs, fd, off, len);
}

int crypt_image_copy_out(struct cr_img *img, int fd, off_t off, size_t len)
{
	struct crypt_file *cf = img->_x.cf;

	if (!cf || cf->pages || cf->raw_fd >= 0 || cf->writing)
		return 1;
	pr_debug("%zu bytes at %lld of a file straight from a sealed image\n", len, (long long)off);
	if (lseek(fd, off, SEEK_SET) < 0) {
		pr_perror("Can't seek a file to %lld", (long long)off);
		return -1;
	}
	return crypt_stream_read_to(cf->cs, fd, len);
}

/* The size of the plaintext, without reading it */
off_t crypt_file_size(struct crypt_file *cf)
{
	struct stat st;

	if (cf->raw_fd < 0 && !cf->writing)
		return crypt_stream_size(cf->cs);
	if (crypt_file_raw_fd(cf) < 0 || fstat(cf->raw_fd, &st)) {
		pr_perror("Can't get the size of an image");
		return -1;
	}
	return st.st_size;
}

/* Called by bclose() */
int crypt_file_close(struct crypt_file *cf)
{
	int ret = 0;

	if (cf->writing) {
		/* what a raw user wrote into the memfd */
		if (cf->raw_fd >= 0)
			ret = crypt_stream_write_fd(cf->cs, cf->raw_fd);
		if (!ret && cf->pw)
			ret = crypt_page_writer_flush(cf->pw);
		if (!ret && cf->cs)
			ret = crypt_stream_close_write(cf->cs);
	}
	close_safe(&cf->raw_fd);
	crypt_file_free(cf);
	return ret;
}
