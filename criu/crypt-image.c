/*
 * The hooks of checkpoint encryption in CRIU's image I/O.
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
 * cipher, at dump and at restore, is crypt-page-io.c's.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cr_options.h"
#include "crtools.h"
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

#include <sodium/randombytes.h>

#undef LOG_PREFIX
#define LOG_PREFIX "crypt: "

#define MANIFEST     "manifest.img"
#define DEFAULT_CERT "/etc/pki/criu/cert.pem"
#define DEFAULT_KEY  "/etc/pki/criu/private/key.pem"

/* What we know of one images directory: its keys, or that it is plain. */
struct crypt_dir {
	struct list_head l;
	dev_t dev;
	ino_t ino;
	struct crypt_ctx *ctx;
	char *manifest; /* restore: "\n" name "\n" name ... "\n" */
	/* what a child checkpoint records of this one (see crypt_parent_digest()) */
	uint8_t digest[CRYPT_HASH_LEN];
	bool walking; /* its parent links are being followed */
	/* pagetags.img */
	int tags_fd;		       /* dump: open for writing, or -1 */
	struct crypt_stream *tags_out; /* dump */
	struct crypt_tagset *tags;     /* restore: read once */
};

static LIST_HEAD(crypt_dirs);

/* the images directory of this dump, still open when CRIU closed its own */
static int dump_dfd = -1;
/* the criu that writes pagetags.img; a helper process writes its own */
static pid_t dump_pid;

static int load_dir(int dfd, const struct stat *st, struct crypt_dir **ret);

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
	d->tags_fd = -1;
	list_add(&d->l, &crypt_dirs);
	return d;
}

static void del_dir(struct crypt_dir *d)
{
	list_del(&d->l);
	crypt_ctx_free(d->ctx);
	xfree(d->manifest);
	crypt_tags_free(d->tags);
	xfree(d);
}

/* The path of the directory dfd, for messages */
static void dir_name(int dfd, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", dfd);
	n = readlink(link, buf, len - 1);
	if (n <= 0)
		n = snprintf(buf, len, ".");
	buf[n] = '\0';
}

/* What we know of the images directory dfd, loading its keys the first time */
static int dir_lookup(int dfd, struct crypt_dir **ret)
{
	char name[PATH_MAX];
	struct crypt_dir *d;
	struct stat st;

	if (fstatat(dfd, "", &st, AT_EMPTY_PATH)) {
		pr_perror("Can't stat the images directory");
		return -1;
	}
	list_for_each_entry(d, &crypt_dirs, l)
		if (d->dev == st.st_dev && d->ino == st.st_ino) {
			if (d->walking) {
				dir_name(dfd, name, sizeof(name));
				pr_err("%s: a loop of parent links\n", name);
				return -1;
			}
			*ret = d;
			return 0;
		}
	return load_dir(dfd, &st, ret);
}

/*
 * Open the file name of the images directory dfd for reading: a regular
 * file, neither a symlink nor anything reading could block on.
 */
static int open_regular(int dfd, const char *name, struct stat *st)
{
	int fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ELOOP)
			pr_err("%s: not a regular file (a symlink)\n", name);
		else if (errno != ENOENT)
			pr_perror("%s: can't open", name);
		return -1;
	}
	if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
		pr_err("%s: not a regular file\n", name);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* The first len bytes of fd into buf */
static int read_whole(int fd, void *buf, size_t len, const char *name)
{
	ssize_t n = pread(fd, buf, len, 0);

	if (n == len)
		return 0;
	if (n < 0)
		pr_perror("%s: can't read", name);
	else
		pr_err("%s: changed while read\n", name);
	return -1;
}

/*
 * The manifest: the names of the sealed and page images of a checkpoint,
 * written last by a dump that succeeded.  Without it a checkpoint is
 * incomplete; with it, an image that was removed is missed, and one that
 * was planted is never read.  Its file goes into the digest of the
 * directory with that of cipher.img (cipher, of len bytes).
 */
#define MANIFEST_MAX (64 << 20)

static int read_manifest(int dfd, struct crypt_dir *d, const uint8_t *cipher, size_t len)
{
	struct crypt_stream *cs = NULL;
	uint8_t *raw = NULL;
	struct stat st;
	off_t size;
	int fd, ret = -1;

	fd = open_regular(dfd, MANIFEST, &st);
	if (fd < 0) {
		if (errno == ENOENT)
			pr_err("%s: the checkpoint is incomplete (the dump did not finish)\n", MANIFEST);
		return -1;
	}
	if (st.st_size > MANIFEST_MAX) {
		pr_err("%s: too big (%lld bytes)\n", MANIFEST, (long long)st.st_size);
		goto out;
	}
	raw = xmalloc(st.st_size + 1);
	if (!raw || read_whole(fd, raw, st.st_size, MANIFEST))
		goto out;
	crypt_parent_digest(cipher, len, raw, st.st_size, d->digest);
	cs = crypt_stream_open_read(d->ctx, fd, MANIFEST);
	if (!cs)
		goto out;
	size = crypt_stream_size(cs);
	d->manifest = xmalloc(size + 2);
	if (d->manifest && crypt_stream_read(cs, d->manifest + 1, size) == size) {
		d->manifest[0] = '\n';
		d->manifest[size + 1] = '\0';
		ret = 0;
	}
out:
	crypt_stream_free(cs);
	xfree(raw);
	close(fd);
	return ret;
}

/*
 * Dump: the names of the images this dump wrote, for the manifest, in a
 * shared mapping: the helper processes that dump namespaces (one each for
 * the UTS, IPC, time and network namespaces, all at once, the IPC one
 * with the pages of System V shared memory) add their own.  So each name
 * claims its place atomically before it is copied there; the list is
 * read once every helper has exited.
 */
#define WRITTEN_MAX (16 << 20)

static struct {
	size_t len; /* bytes claimed, possibly past the end after an overflow */
	bool overflow;
	char names[];
} *written;

static void note_written(const char *name)
{
	size_t len = strlen(name) + 1, off;

	if (!written)
		return;
	off = __atomic_fetch_add(&written->len, len, __ATOMIC_RELAXED);
	if (off + len > WRITTEN_MAX - sizeof(*written)) {
		__atomic_store_n(&written->overflow, true, __ATOMIC_RELAXED);
		return;
	}
	memcpy(written->names + off, name, len);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The manifest: every name the dump wrote, once */
static int write_manifest(int dfd, struct crypt_ctx *ctx)
{
	struct crypt_stream *cs = NULL;
	size_t nr = 0, i, off;
	char **names = NULL;
	int fd = -1, ret = -1;

	if (written->overflow) {
		pr_err("%s: too many images to list\n", MANIFEST);
		return -1;
	}
	for (off = 0; off < written->len; off += strlen(written->names + off) + 1)
		nr++;
	names = xmalloc((nr + 1) * sizeof(*names));
	if (!names)
		return -1;
	for (i = 0, off = 0; off < written->len; off += strlen(written->names + off) + 1)
		names[i++] = written->names + off;
	qsort(names, nr, sizeof(*names), cmp_names);

	fd = openat(dfd, MANIFEST, O_WRONLY | O_CREAT | O_TRUNC, CR_FD_PERM);
	if (fd < 0 || !(cs = crypt_stream_open_write(ctx, fd, MANIFEST)))
		goto out;
	for (i = 0; i < nr; i++) {
		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		if (crypt_stream_write(cs, names[i], strlen(names[i])) || crypt_stream_write(cs, "\n", 1))
			goto out;
	}
	ret = crypt_stream_close_write(cs);
out:
	if (ret)
		pr_err("Can't write %s\n", MANIFEST);
	crypt_stream_free(cs);
	close_safe(&fd);
	xfree(names);
	return ret;
}

/* Dump: pagetags.img, opened with the first page image written */
static struct crypt_stream *tags_writer(int dfd, struct crypt_dir *d)
{
	if (d->tags_out)
		return d->tags_out;
	d->tags_fd = openat(dfd, CRYPT_TAGS_IMG, O_WRONLY | O_CREAT | O_TRUNC, CR_FD_PERM);
	if (d->tags_fd < 0) {
		pr_perror("%s: can't open", CRYPT_TAGS_IMG);
		return NULL;
	}
	d->tags_out = crypt_stream_open_write(d->ctx, d->tags_fd, CRYPT_TAGS_IMG);
	if (d->tags_out)
		note_written(CRYPT_TAGS_IMG);
	return d->tags_out;
}

static void free_tags_writer(struct crypt_dir *d)
{
	crypt_stream_free(d->tags_out);
	d->tags_out = NULL;
	close_safe(&d->tags_fd);
}

/* At the end of a dump or pre-dump that succeeded: pagetags.img, the manifest */
int crypt_dump_finish(void)
{
	struct crypt_dir *d;
	int ret;

	if (!opts.encrypt)
		return 0;
	if (dir_lookup(dump_dfd, &d) || !d->ctx || !tags_writer(dump_dfd, d))
		return -1;
	ret = crypt_stream_close_write(d->tags_out);
	free_tags_writer(d);
	if (ret) {
		pr_err("Can't write %s\n", CRYPT_TAGS_IMG);
		return -1;
	}
	return write_manifest(dump_dfd, d->ctx);
}

/* Whether name is a line of the manifest (which starts with a newline) */
static bool in_manifest(const char *manifest, const char *name)
{
	size_t len = strlen(name);
	const char *p;

	for (p = strstr(manifest, name); p; p = strstr(p + 1, name))
		if (p > manifest && p[-1] == '\n' && p[len] == '\n')
			return true;
	return false;
}

/* Called by do_open_image() for an image that is not there */
int crypt_image_missing(int dfd, int type, const char *path)
{
	struct crypt_dir *d;

	if (type == CR_FD_CIPHER || type == CR_FD_STATS || !*path)
		return 0;
	if (dir_lookup(dfd, &d))
		return -1;
	if (!d->manifest || !in_manifest(d->manifest, path))
		return 0;
	pr_err("%s: missing from the checkpoint (removed)\n", path);
	return -1;
}

/*
 * Restore: run every cipher a restored task will run, once, here in the
 * root criu before it forks: a check that they work, and each task then
 * inherits what their first use sets up (lazy symbol binding in criu and
 * the libraries) instead of paying for it again.
 */
static int warm_up(const struct crypt_ctx *ctx)
{
	static const char name[] = "self-test";
	uint8_t page[CRYPT_PAGE_SIZE] = {}, out[CRYPT_PAGE_SIZE] = {}, salt[CRYPT_NONCE_LEN] = {};
	uint8_t tag[CRYPT_TAG_LEN];
	struct iovec from = { page, sizeof(page) }, to = { out, sizeof(out) };
	struct crypt_pages *cp = NULL;
	struct crypt_stream *s;
	int fd, ret = -1;

	fd = memfd_create("criu-crypt", MFD_CLOEXEC);
	if (fd < 0) {
		pr_perror("Can't create a memfd");
		return -1;
	}
	s = crypt_stream_open_write(ctx, fd, name);
	if (!s || crypt_stream_write(s, page, sizeof(page)) || crypt_stream_close_write(s))
		goto out;
	crypt_stream_free(s);
	s = crypt_stream_open_read(ctx, fd, name);
	if (!s || crypt_stream_read(s, out, sizeof(out)) != sizeof(out) || memcmp(page, out, sizeof(out)))
		goto out;
	cp = crypt_pages_new(ctx, name, salt);
	if (!cp || crypt_pages_seal(cp, 0, page, 1, tag) || crypt_pages_open(cp, 0, page, 1, tag) ||
	    memcmp(page, out, sizeof(out)))
		goto out;
	/* the page reader may find it refused; that is no error */
	process_vm_writev(getpid(), &from, 1, &to, 1, 0);
	ret = 0;
out:
	if (ret)
		pr_err("The self-test of the ciphers failed\n");
	crypt_pages_free(cp);
	crypt_stream_free(s);
	close(fd);
	return ret;
}

static int load_tags_image(int dfd, struct crypt_dir *d, struct crypt_tagset **ts, const char *name)
{
	struct crypt_stream *cs;
	struct stat st;
	int fd, ret = -1;

	if (!in_manifest(d->manifest, name)) {
		pr_err("%s: not listed in %s (not written by this dump)\n", name, MANIFEST);
		return -1;
	}
	fd = open_regular(dfd, name, &st);
	if (fd < 0) {
		if (errno == ENOENT)
			pr_err("%s: missing from the checkpoint (removed)\n", name);
		return -1;
	}
	cs = crypt_stream_open_read(d->ctx, fd, name);
	if (cs)
		ret = crypt_tags_load(ts, cs, name);
	crypt_stream_free(cs);
	close(fd);
	return ret;
}

/* The tags of every page image of the directory: pagetags.img and those of the manifest's pagetags-<id>.img */
static int load_tags(int dfd, struct crypt_dir *d)
{
	struct crypt_tagset *ts = NULL;
	char name[NAME_MAX + 1];
	const char *p, *e;

	if (d->tags)
		return 0;
	if (load_tags_image(dfd, d, &ts, CRYPT_TAGS_IMG))
		goto err;
	for (p = strstr(d->manifest, "\npagetags-"); p; p = strstr(e, "\npagetags-")) {
		e = strchr(p + 1, '\n');
		if (!e)
			break;
		if (e - p - 1 > NAME_MAX)
			continue;
		memcpy(name, p + 1, e - p - 1);
		name[e - p - 1] = '\0';
		if (load_tags_image(dfd, d, &ts, name))
			goto err;
	}
	d->tags = ts;
	return 0;
err:
	crypt_tags_free(ts);
	return -1;
}

static bool is_encrypted(int dfd)
{
	struct stat st;

	return !fstatat(dfd, CRYPT_CIPHER_IMG, &st, AT_SYMLINK_NOFOLLOW);
}

/*
 * The parent checkpoint (of a pre-dump chain) of the one in dfd, whose
 * cipher.img is ce (NULL: a plain one), is the one it was dumped against:
 * a checkpoint takes pages from its parent, so a parent swapped for
 * another (an older level, another process's) would restore memory that
 * was never dumped.  An encrypted checkpoint records a digest of its
 * parent, which must be encrypted too (else its pages would be read
 * unauthenticated); a plain one can't vouch for an encrypted parent.
 * The walk goes on to the parent's own parent.  A restore loads the
 * parents with the child, before criu forks: else every task that reads
 * pages would unwrap the parent's key (an RSA decryption) again.
 */
static int check_parent(int dfd, const char *dir, const CipherEntry *ce)
{
	char pdir[PATH_MAX];
	struct crypt_dir *p;
	int pfd, ret = -1;

	if (open_parent(dfd, &pfd))
		return -1;
	if (pfd < 0) {
		if (!ce || !ce->has_parent)
			return 0;
		pr_err("%s/%s: dumped against a parent, but %s has no parent link\n", dir, CRYPT_CIPHER_IMG, dir);
		return -1;
	}
	dir_name(pfd, pdir, sizeof(pdir));
	if (!ce) {
		if (is_encrypted(pfd))
			pr_err("%s: a plain checkpoint whose parent %s is encrypted\n", dir, pdir);
		else
			ret = dir_lookup(pfd, &p);
	} else if (!ce->has_parent) {
		pr_err("%s/%s: has a parent link (%s) but records no parent\n", dir, CRYPT_CIPHER_IMG, pdir);
	} else if (!is_encrypted(pfd)) {
		pr_err("%s/%s: missing: the parent of the encrypted checkpoint %s is a plain one\n", pdir,
		       CRYPT_CIPHER_IMG, dir);
	} else if (!dir_lookup(pfd, &p)) {
		if (memcmp(p->digest, ce->parent.data, CRYPT_HASH_LEN))
			pr_err("%s/%s: the parent %s is not the checkpoint %s was dumped against\n", dir,
			       CRYPT_CIPHER_IMG, pdir, dir);
		else
			ret = 0;
	}
	close(pfd);
	return ret;
}

/* cipher.img of the directory dfd (named dir): its keys, its entry */
static struct crypt_ctx *open_cipher(int dfd, const char *dir, CipherEntry **ce, uint8_t **raw, size_t *len)
{
	char name[PATH_MAX + 16];
	struct crypt_ctx *ctx;
	struct stat st;
	int fd;

	snprintf(name, sizeof(name), "%s/%s", dir, CRYPT_CIPHER_IMG);
	fd = open_regular(dfd, CRYPT_CIPHER_IMG, &st);
	if (fd < 0)
		return NULL;
	if (st.st_size > CRYPT_CIPHER_MAX) {
		pr_err("%s: malformed (%lld bytes)\n", name, (long long)st.st_size);
		close(fd);
		return NULL;
	}
	*len = st.st_size;
	*raw = xmalloc(*len + 1);
	if (!*raw || read_whole(fd, *raw, *len, name)) {
		close(fd);
		return NULL;
	}
	close(fd);
	*ce = crypt_cipher_parse(*raw, *len, name);
	if (!*ce || crypt_init())
		return NULL;
	ctx = crypt_ctx_open(*ce, key_path(), name);
	if (ctx && warm_up(ctx)) {
		crypt_ctx_free(ctx);
		return NULL;
	}
	if (ctx)
		pr_info("%s: an encrypted checkpoint\n", name);
	return ctx;
}

static int load_dir(int dfd, const struct stat *st, struct crypt_dir **ret)
{
	struct crypt_ctx *ctx = NULL;
	CipherEntry *ce = NULL;
	char dir[PATH_MAX];
	uint8_t *raw = NULL;
	struct crypt_dir *d;
	size_t len = 0;
	int r = -1;

	dir_name(dfd, dir, sizeof(dir));
	if (is_encrypted(dfd)) {
		ctx = open_cipher(dfd, dir, &ce, &raw, &len);
		if (!ctx)
			goto out;
	} else if (opts.encrypt && opts.mode != CR_DUMP && opts.mode != CR_PRE_DUMP) {
		pr_err("%s: not an encrypted checkpoint (no %s), and --encrypt asks for one\n", dir, CRYPT_CIPHER_IMG);
		goto out;
	}

	d = add_dir(st, ctx);
	if (!d) {
		crypt_ctx_free(ctx);
		goto out;
	}
	d->walking = true;
	r = (ctx && read_manifest(dfd, d, raw, len)) || check_parent(dfd, dir, ce) ||
	    /* restore: here, before criu forks, rather than once in every task */
	    (ctx && opts.mode == CR_RESTORE && load_tags(dfd, d));
	d->walking = false;
	if (r) {
		del_dir(d);
		r = -1;
	} else
		*ret = d;
out:
	if (ce)
		cipher_entry__free_unpacked(ce, NULL);
	xfree(raw);
	return r;
}

/* Dump: the mapping where the dump and its helpers note the images they write */
static int written_init(void)
{
	if (written) {
		written->len = 0;
		written->overflow = false;
		return 0;
	}
	written = mmap(NULL, WRITTEN_MAX, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (written != MAP_FAILED)
		return 0;
	written = NULL;
	pr_perror("Can't map the list of written images");
	return -1;
}

/*
 * Dump: the parent this checkpoint is dumped against, if any: what it
 * records of it (the digest), or NULL; a plain dump refuses an encrypted
 * parent.
 */
static int dump_parent(int dfd, struct crypt_dir **pd)
{
	char dir[PATH_MAX], pdir[PATH_MAX];
	int pfd, ret = 0;

	*pd = NULL;
	if (open_parent(dfd, &pfd))
		return -1;
	if (pfd < 0)
		return 0;
	dir_name(pfd, pdir, sizeof(pdir));
	if (!opts.encrypt) {
		if (is_encrypted(pfd)) {
			dir_name(dfd, dir, sizeof(dir));
			pr_err("%s: a plain checkpoint whose parent %s is encrypted\n", dir, pdir);
			ret = -1;
		}
	} else if (!is_encrypted(pfd)) {
		dir_name(dfd, dir, sizeof(dir));
		pr_err("%s/%s: missing: the parent of the encrypted checkpoint %s is a plain one\n", pdir,
		       CRYPT_CIPHER_IMG, dir);
		ret = -1;
	} else if (crypt_init() || dir_lookup(pfd, pd))
		ret = -1;
	close(pfd);
	return ret;
}

/*
 * At the start of dump and pre-dump, before any task is frozen: make the
 * checkpoint key and cipher.img with --encrypt, remove a stale cipher.img
 * without it.
 */
int crypt_dump_init(void)
{
	int dfd = get_service_fd(IMG_FD_OFF);
	struct crypt_dir *parent;
	struct crypt_ctx *ctx;
	struct cr_img *img;
	CipherEntry ce;
	struct stat st;
	int ret;

	if (fstatat(dfd, "", &st, AT_EMPTY_PATH)) {
		pr_perror("Can't stat the images directory");
		return -1;
	}
	dump_pid = getpid();
	dump_dfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	if (dump_dfd < 0) {
		pr_perror("Can't dup the images directory");
		return -1;
	}
	if (!opts.encrypt) {
		if ((unlinkat(dfd, CRYPT_CIPHER_IMG, 0) && errno != ENOENT) ||
		    (unlinkat(dfd, MANIFEST, 0) && errno != ENOENT)) {
			pr_perror("Can't remove a stale %s or %s", CRYPT_CIPHER_IMG, MANIFEST);
			return -1;
		}
		if (dump_parent(dfd, &parent))
			return -1;
		return add_dir(&st, NULL) ? 0 : -1;
	}

	if (opts.stream || opts.use_page_server) {
		pr_err("--encrypt does not work with --%s yet\n", opts.stream ? "stream" : "page-server");
		return -1;
	}
	if (crypt_init() || written_init() || dump_parent(dfd, &parent))
		return -1;
	ctx = crypt_ctx_new(cert_path(), parent ? parent->digest : NULL, &ce);
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
	pr_info("Encrypting the checkpoint for %s%s\n", cert_path(), parent ? ", bound to its parent" : "");
	return 0;
}

/* A failed dump must not leave anything that restores. */
void crypt_dump_fail(void)
{
	struct crypt_dir *d;

	if (opts.encrypt && dump_dfd >= 0) {
		unlinkat(dump_dfd, CRYPT_CIPHER_IMG, 0);
		unlinkat(dump_dfd, MANIFEST, 0);
		if (!dir_lookup(dump_dfd, &d))
			free_tags_writer(d);
	}
}

static void crypt_file_free(struct crypt_file *cf)
{
	crypt_page_writer_free(cf->pw);
	crypt_page_reader_free(cf->pr);
	crypt_stream_free(cf->cs);
	crypt_pages_free(cf->pages);
	close_safe(&cf->tags_fd);
	xfree(cf);
}

/* Dump in a helper process: the tags of the page image path in pagetags-<id>.img */
static struct crypt_stream *own_tags_writer(struct crypt_file *cf, struct crypt_dir *d, int dfd, const char *path)
{
	char name[NAME_MAX + 1];

	if (strncmp(path, "pages-", 6) || snprintf(name, sizeof(name), "pagetags-%s", path + 6) >= sizeof(name)) {
		pr_err("%s: not a page image name\n", path);
		return NULL;
	}
	cf->tags_fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, CR_FD_PERM);
	if (cf->tags_fd < 0) {
		pr_perror("%s: can't open", name);
		return NULL;
	}
	cf->cs = crypt_stream_open_write(d->ctx, cf->tags_fd, name);
	if (cf->cs)
		note_written(name);
	return cf->cs;
}

/*
 * The keys of a page image: at dump a new salt, its tags into
 * pagetags.img as they come; at restore its salt and tags from there.
 */
static int open_pages(struct crypt_file *cf, struct crypt_dir *d, int dfd, const char *path)
{
	uint8_t new_salt[CRYPT_NONCE_LEN];
	struct crypt_stream *out = NULL;
	const uint8_t *salt, *tags;
	uint64_t nr = 0;
	struct stat st;

	if (cf->writing) {
		/* the IPC namespace's pages are dumped by a helper process */
		if (getpid() == dump_pid)
			out = tags_writer(dfd, d);
		else
			out = own_tags_writer(cf, d, dfd, path);
		if (!out)
			return -1;
		randombytes_buf(new_salt, sizeof(new_salt));
		salt = new_salt;
	} else {
		if (load_tags(dfd, d))
			return -1;
		if (!crypt_tags_find(d->tags, path, &salt, &tags, &nr)) {
			pr_err("%s: no tags for it in %s\n", path, CRYPT_TAGS_IMG);
			return -1;
		}
		if (fstat(cf->fd, &st) || st.st_size != nr * CRYPT_PAGE_SIZE) {
			pr_err("%s: %lld bytes, but %s has the tags of %" PRIu64 " pages (truncated or extended)\n",
			       path, (long long)st.st_size, CRYPT_TAGS_IMG, nr);
			return -1;
		}
	}
	cf->pages = crypt_pages_new(d->ctx, path, salt);
	if (!cf->pages)
		return -1;
	if (cf->writing)
		cf->pw = crypt_page_writer_new(d->ctx, cf->pages, path, salt, cf->fd, out);
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

/* An image of a plain directory must not be a sealed one (cipher.img removed) */
static int check_plain(int fd, int flags, const char *path)
{
	char magic[CRYPT_MAGIC_LEN];

	if ((flags & O_ACCMODE) == O_WRONLY || pread(fd, magic, sizeof(magic), 0) != sizeof(magic) ||
	    memcmp(magic, "CRIUSEAL", sizeof(magic)))
		return 0;
	pr_err("%s: an encrypted image, but there is no %s\n", path, CRYPT_CIPHER_IMG);
	return -1;
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
		pr_err("%s: not a regular file\n", path);
		return -1;
	}
	if (d->manifest && !in_manifest(d->manifest, path)) {
		pr_err("%s: not listed in %s (not written by this dump)\n", path, MANIFEST);
		return -1;
	}
	return 0;
}

/* Called by do_open_image() for every image it opened (fd in img). */
int crypt_image_open(struct cr_img *img, int dfd, int type, int flags, const char *path)
{
	struct crypt_file *cf;
	struct crypt_ctx *ctx;
	struct crypt_dir *d;

	img->_x.cf = NULL;
	/* stats: timings and counters only */
	if (type == CR_FD_CIPHER || type == CR_FD_STATS)
		return 0;
	if (dir_lookup(dfd, &d))
		return -1;
	ctx = d->ctx;
	if (!ctx)
		return check_plain(img->_x.fd, flags, path);
	if ((flags & O_ACCMODE) != O_WRONLY && check_listed(dfd, img->_x.fd, d, path))
		return -1;

	cf = xzalloc(sizeof(*cf));
	if (!cf)
		return -1;
	cf->raw_fd = -1;
	cf->tags_fd = -1;
	cf->fd = img->_x.fd;
	/* page images are opened O_RDWR at restore for --auto-dedup */
	cf->writing = (flags & O_ACCMODE) == O_WRONLY;
	if (type == CR_FD_PAGES) {
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
			xfree(cf);
			return -1;
		}
	}
	if (cf->writing)
		note_written(path);
	img->_x.cf = cf;
	return 0;
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
