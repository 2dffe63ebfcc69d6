/*
 * The hooks of checkpoint encryption in CRIU's image I/O.
 *
 * An images directory is encrypted when it holds cipher.img.  Every image
 * opened in it, but cipher.img itself and the page images, is a sealed
 * stream (crypt-stream.c) under the keys of that directory: protobuf
 * images through bfd, raw images through a memfd that holds the plaintext
 * while CRIU or an external tool works on it.  So a raw user gets a real
 * file (seekable, splice-able, sendfile-able) and, at restore, sees no
 * byte of an image before the whole image is authenticated.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cr_options.h"
#include "image.h"
#include "imgset.h"
#include "log.h"
#include "protobuf.h"
#include "servicefd.h"
#include "util.h"
#include "common/list.h"
#include "common/xmalloc.h"
#include "crypt.h"
#include "images/cipher.pb-c.h"

#undef LOG_PREFIX
#define LOG_PREFIX "crypt: "

#define DEFAULT_CERT "/etc/pki/criu/cert.pem"
#define DEFAULT_KEY  "/etc/pki/criu/private/key.pem"

/* What we know of one images directory: its keys, or that it is plain. */
struct crypt_dir {
	struct list_head l;
	dev_t dev;
	ino_t ino;
	struct crypt_ctx *ctx;
};

static LIST_HEAD(crypt_dirs);

struct crypt_file {
	struct crypt_stream *cs;
	int raw_fd; /* the memfd handed to a raw user, or -1 */
	bool writing;
};

static const char *cert_path(void)
{
	return opts.tls_cert ?: DEFAULT_CERT;
}

static const char *key_path(void)
{
	return opts.tls_key ?: DEFAULT_KEY;
}

static struct crypt_dir *add_dir(const struct stat *st, struct crypt_ctx *ctx)
{
	struct crypt_dir *d = xzalloc(sizeof(*d));

	if (!d)
		return NULL;
	d->dev = st->st_dev;
	d->ino = st->st_ino;
	d->ctx = ctx;
	list_add(&d->l, &crypt_dirs);
	return d;
}

/* The path of dfd's cipher.img, for messages */
static void cipher_img_name(int dfd, char *buf, size_t len)
{
	char link[64], dir[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", dfd);
	n = readlink(link, dir, sizeof(dir) - 1);
	if (n <= 0)
		n = snprintf(dir, sizeof(dir), ".");
	dir[n] = '\0';
	snprintf(buf, len, "%s/%s", dir, CRYPT_CIPHER_IMG);
}

static int load_dir(int dfd, const struct stat *st, struct crypt_dir **ret)
{
	char name[PATH_MAX + 16];
	struct crypt_ctx *ctx = NULL;
	CipherEntry *ce = NULL;
	struct cr_img *img;
	int r;

	img = open_image_at(dfd, CR_FD_CIPHER, O_RSTR);
	if (!img)
		return -1;
	if (!empty_image(img)) {
		cipher_img_name(dfd, name, sizeof(name));
		r = pb_read_one(img, &ce, PB_CIPHER);
		close_image(img);
		if (r < 0) {
			pr_err("%s: can't read\n", name);
			return -1;
		}
		if (crypt_init() == 0)
			ctx = crypt_ctx_open(ce, key_path(), name);
		cipher_entry__free_unpacked(ce, NULL);
		if (!ctx)
			return -1;
		pr_info("%s: an encrypted checkpoint\n", name);
	} else
		close_image(img);

	*ret = add_dir(st, ctx);
	if (!*ret) {
		crypt_ctx_free(ctx);
		return -1;
	}
	return 0;
}

/* The keys of the images directory dfd, or NULL (plain) in *ctx. */
static int dir_ctx(int dfd, struct crypt_ctx **ctx)
{
	struct crypt_dir *d;
	struct stat st;

	if (fstatat(dfd, "", &st, AT_EMPTY_PATH)) {
		pr_perror("Can't stat the images directory");
		return -1;
	}
	list_for_each_entry(d, &crypt_dirs, l)
		if (d->dev == st.st_dev && d->ino == st.st_ino)
			goto found;
	if (load_dir(dfd, &st, &d))
		return -1;
found:
	*ctx = d->ctx;
	return 0;
}

/*
 * At the start of dump and pre-dump, before any task is frozen: make the
 * checkpoint key and cipher.img with --encrypt, remove a stale cipher.img
 * without it.
 */
int crypt_dump_init(void)
{
	int dfd = get_service_fd(IMG_FD_OFF);
	struct crypt_ctx *ctx;
	struct cr_img *img;
	CipherEntry ce;
	struct stat st;
	int ret;

	if (fstatat(dfd, "", &st, AT_EMPTY_PATH)) {
		pr_perror("Can't stat the images directory");
		return -1;
	}
	if (!opts.encrypt) {
		if (unlinkat(dfd, CRYPT_CIPHER_IMG, 0) && errno != ENOENT) {
			pr_perror("Can't remove the stale %s", CRYPT_CIPHER_IMG);
			return -1;
		}
		return add_dir(&st, NULL) ? 0 : -1;
	}

	if (opts.stream) {
		pr_err("--encrypt does not work with --stream\n");
		return -1;
	}
	if (crypt_init())
		return -1;
	ctx = crypt_ctx_new(cert_path(), &ce);
	if (!ctx)
		return -1;
	img = open_image_at(dfd, CR_FD_CIPHER, O_DUMP);
	ret = img ? pb_write_one(img, &ce, PB_CIPHER) : -1;
	if (img)
		close_image(img);
	crypt_entry_free(&ce);
	if (ret || bfd_flush_images() || !add_dir(&st, ctx)) {
		pr_err("Can't write %s\n", CRYPT_CIPHER_IMG);
		crypt_ctx_free(ctx);
		return -1;
	}
	pr_info("Encrypting the checkpoint for %s\n", cert_path());
	return 0;
}

/* A failed dump must not leave anything that restores. */
void crypt_dump_fail(void)
{
	if (opts.encrypt)
		unlinkat(get_service_fd(IMG_FD_OFF), CRYPT_CIPHER_IMG, 0);
}

/* Called by do_open_image() for every image it opened (fd in img). */
int crypt_image_open(struct cr_img *img, int dfd, int type, int flags, const char *path)
{
	struct crypt_file *cf;
	struct crypt_ctx *ctx;

	img->_x.cf = NULL;
	/* pages: crypt-page.c; stats: timings and counters only */
	if (type == CR_FD_PAGES || type == CR_FD_CIPHER || type == CR_FD_STATS)
		return 0;
	if (dir_ctx(dfd, &ctx))
		return -1;
	if (!ctx)
		return 0;

	cf = xzalloc(sizeof(*cf));
	if (!cf)
		return -1;
	cf->raw_fd = -1;
	cf->writing = flags != O_RDONLY;
	if (cf->writing)
		cf->cs = crypt_stream_open_write(ctx, img->_x.fd, path);
	else
		cf->cs = crypt_stream_open_read(ctx, img->_x.fd, path);
	if (!cf->cs) {
		xfree(cf);
		return -1;
	}
	img->_x.cf = cf;
	return 0;
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
	uint8_t *buf;
	ssize_t n;

	if (cf->raw_fd >= 0)
		return cf->raw_fd;

	cf->raw_fd = memfd_create("criu-image", MFD_CLOEXEC);
	if (cf->raw_fd < 0) {
		pr_perror("Can't create a memfd for an image");
		return -1;
	}
	if (cf->writing)
		return cf->raw_fd;

	buf = xmalloc(CRYPT_CHUNK);
	if (!buf)
		goto err;
	while ((n = crypt_stream_read(cf->cs, buf, CRYPT_CHUNK)) > 0)
		if (write_all(cf->raw_fd, buf, n) != n) {
			pr_perror("Can't fill a memfd for an image");
			n = -1;
			break;
		}
	xfree(buf);
	if (n < 0 || lseek(cf->raw_fd, 0, SEEK_SET))
		goto err;
	return cf->raw_fd;
err:
	close_safe(&cf->raw_fd);
	return -1;
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

/* Seal what a raw user wrote into the memfd. */
static int seal_raw(struct crypt_file *cf)
{
	const size_t len = 1 << 20;
	uint8_t *buf;
	off_t off = 0;
	ssize_t n;

	buf = xmalloc(len);
	if (!buf)
		return -1;
	while ((n = pread(cf->raw_fd, buf, len, off)) > 0) {
		if (crypt_stream_write(cf->cs, buf, n))
			break;
		off += n;
	}
	if (n < 0)
		pr_perror("Can't read a memfd of an image");
	xfree(buf);
	return n ? -1 : 0;
}

/* Called by bclose() */
int crypt_file_close(struct crypt_file *cf)
{
	int ret = 0;

	if (cf->writing) {
		if (cf->raw_fd >= 0)
			ret = seal_raw(cf);
		if (!ret)
			ret = crypt_stream_close_write(cf->cs);
	}
	close_safe(&cf->raw_fd);
	crypt_stream_free(cf->cs);
	xfree(cf);
	return ret;
}
