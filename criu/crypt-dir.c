/*
 * A checkpoint directory as the encryption sees it: plain, or encrypted
 * with its keys (cipher.img), its manifest and its page tags, bound to
 * its parent; loaded once per directory and run, before a restore forks.
 * Also the start and the end of an encrypted dump: cipher.img first, the
 * manifest last.  See Documentation/encryption-format.txt.
 */
#include <fcntl.h>
#include <stdlib.h>
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
#include "crypt-private.h"
#include "images/cipher.pb-c.h"

/* What we know of one images directory: its keys, or that it is plain. */
struct crypt_dir {
	struct list_head l;
	dev_t dev;
	ino_t ino;
	struct crypt_ctx *ctx; /* NULL: a plain checkpoint */
	char *manifest;	       /* restore: "\n" name "\n" name ... "\n" */
	/* what a child checkpoint records of this one (see crypt_checkpoint_digest()) */
	uint8_t digest[CRYPT_HASH_LEN];
	bool walking; /* its parent links are being followed */
	/* pagetags.img */
	int tags_fd;		       /* dump: open for writing, or -1 */
	struct crypt_stream *tags_out; /* dump */
	struct crypt_tagset *tags;     /* restore: read once */
};

static LIST_HEAD(crypt_dirs);
/* the images directory of this run (the service fd), once looked up */
static struct crypt_dir *img_dir;

/* the images directory of this dump, still open when CRIU closed its own */
static int dump_dfd = -1;
/* the criu that writes pagetags.img; a helper process writes its own */
static pid_t dump_pid;
/* the dump's cipher.img, for its digest at the end */
static CipherEntry dump_entry;

static int load_dir(int dfd, const struct stat *st, struct crypt_dir **ret);

/* The recipients' certificates: every --tls-cert, else CRIU's default */
static const char *const *cert_paths(int *nr)
{
	static const char *dflt[1];

	if (opts.nr_tls_certs) {
		*nr = opts.nr_tls_certs;
		return (const char *const *)opts.tls_certs;
	}
	dflt[0] = opts.tls_cert ?: CRYPT_DEFAULT_CERT;
	*nr = 1;
	return dflt;
}

static const char *key_path(void)
{
	return opts.tls_key ?: CRYPT_DEFAULT_KEY;
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
	if (d == img_dir)
		img_dir = NULL;
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

struct crypt_ctx *crypt_dir_ctx(const struct crypt_dir *d)
{
	return d->ctx;
}

/*
 * What we know of the images directory dfd, loading its keys the first
 * time.  The images directory of the run is looked up once: a plain
 * checkpoint costs no system call an image.
 */
/* The directory st if it is loaded already, or NULL */
static struct crypt_dir *loaded_dir(const struct stat *st)
{
	struct crypt_dir *d;

	list_for_each_entry(d, &crypt_dirs, l)
		if (d->dev == st->st_dev && d->ino == st->st_ino)
			return d;
	return NULL;
}

int crypt_dir_lookup(int dfd, struct crypt_dir **ret)
{
	bool img = dfd == get_service_fd(IMG_FD_OFF);
	char name[PATH_MAX];
	struct crypt_dir *d;
	struct stat st;

	if (img && img_dir) {
		*ret = img_dir;
		return 0;
	}
	if (fstatat(dfd, "", &st, AT_EMPTY_PATH)) {
		pr_perror("Can't stat the images directory");
		return -1;
	}
	d = loaded_dir(&st);
	if (d && d->walking) {
		dir_name(dfd, name, sizeof(name));
		pr_err("%s: a loop of parent links\n", name);
		return -1;
	}
	*ret = d;
	if (!d && load_dir(dfd, &st, ret))
		return -1;
	if (img)
		img_dir = *ret;
	return 0;
}

/*
 * Open the file name of the images directory dfd for reading: a regular
 * file, neither a symlink nor anything reading could block on (shown is
 * its name in messages).
 */
static int open_regular(int dfd, const char *name, const char *shown, struct stat *st)
{
	int fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ELOOP) {
			set_cr_errno(EBADMSG);
			pr_err("%s: not a regular file (a symlink)\n", shown);
		} else if (errno != ENOENT) {
			pr_perror("%s: can't open", shown);
		}
		return -1;
	}
	if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
		set_cr_errno(EBADMSG);
		pr_err("%s: not a regular file\n", shown);
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
 * The regular file name of dfd whole, at most max bytes (shown is its name
 * in messages): its bytes (one more allocated) and their number in len, or
 * NULL (errno ENOENT, said by the caller: it is missing).  With fdp, the
 * file stays open there.
 */
static uint8_t *read_small(int dfd, const char *name, const char *shown, size_t max, size_t *len, int *fdp)
{
	uint8_t *raw = NULL;
	struct stat st;
	int fd;

	fd = open_regular(dfd, name, shown, &st);
	if (fd < 0)
		return NULL;
	errno = 0;
	if (st.st_size > max) {
		pr_err("%s: too big (%lld bytes)\n", shown, (long long)st.st_size);
	} else {
		raw = xmalloc(st.st_size + 1);
		if (raw && read_whole(fd, raw, st.st_size, shown)) {
			xfree(raw);
			raw = NULL;
		}
	}
	if (raw && fdp)
		*fdp = fd;
	else
		close(fd);
	*len = st.st_size;
	return raw;
}

/*
 * The manifest: the names of the sealed and page images of a checkpoint,
 * written last by a dump that succeeded.  Without it a checkpoint is
 * incomplete; with it, an image that was removed is missed, and one that
 * was planted is never read.  Its file goes into the digest of the
 * checkpoint with cipher.img's entry ce.
 */
static int read_manifest(int dfd, struct crypt_dir *d, const CipherEntry *ce)
{
	struct crypt_stream *cs = NULL;
	uint8_t *raw;
	size_t rlen;
	off_t size;
	int fd, ret = -1;

	raw = read_small(dfd, CRYPT_MANIFEST_IMG, CRYPT_MANIFEST_IMG, CRYPT_MANIFEST_MAX, &rlen, &fd);
	if (!raw) {
		if (errno == ENOENT) {
			set_cr_errno(EBADMSG);
			pr_err("%s: the checkpoint is incomplete (the dump did not finish)\n", CRYPT_MANIFEST_IMG);
		}
		return -1;
	}
	crypt_checkpoint_digest(ce, raw, rlen, d->digest);
	cs = crypt_stream_open_read(d->ctx, fd, CRYPT_MANIFEST_IMG);
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
 * signature.img of the checkpoint d (in dfd, named dir), whose digest is
 * known: a signature that fails refuses the checkpoint; a restore given
 * a CA (--tls-cacert) refuses one that is not signed by it.
 */
static int check_signature(int dfd, const char *dir, const struct crypt_dir *d)
{
	const char *ca = opts.mode == CR_DUMP || opts.mode == CR_PRE_DUMP ? NULL : crypt_restore_ca();
	char name[PATH_MAX + 16];
	uint8_t *raw;
	size_t len;
	int ret;

	snprintf(name, sizeof(name), "%s/%s", dir, CRYPT_SIGNATURE_IMG);
	raw = read_small(dfd, CRYPT_SIGNATURE_IMG, name, CRYPT_CIPHER_MAX, &len, NULL);
	if (!raw) {
		if (errno != ENOENT)
			return -1;
		if (!ca)
			return 0;
		set_cr_errno(EKEYREJECTED);
		pr_err("%s: missing: the checkpoint is not signed, and --tls-cacert asks for a signature\n", name);
		return -1;
	}
	ret = crypt_sign_verify(raw, len, name, d->digest, ca);
	xfree(raw);
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

struct written_names {
	size_t len; /* bytes claimed, possibly past the end after an overflow */
	bool overflow;
	bool failed; /* an image a page server stores could not be vouched for */
	char names[];
};
static struct written_names *written;

void crypt_dir_note_written(const char *name)
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

/* The dump must not finish: what it sent a page server would not restore */
void crypt_dir_note_failed(void)
{
	if (written)
		__atomic_store_n(&written->failed, true, __ATOMIC_RELAXED);
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
		pr_err("%s: too many images to list\n", CRYPT_MANIFEST_IMG);
		return -1;
	}
	if (written->failed) {
		pr_err("%s: not written: the images sent to the page server are incomplete\n", CRYPT_MANIFEST_IMG);
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

	fd = openat(dfd, CRYPT_MANIFEST_IMG, O_WRONLY | O_CREAT | O_TRUNC, CR_FD_PERM);
	if (fd < 0 || !(cs = crypt_stream_open_write(ctx, fd, CRYPT_MANIFEST_IMG)))
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
		pr_err("Can't write %s\n", CRYPT_MANIFEST_IMG);
	crypt_stream_free(cs);
	close_safe(&fd);
	xfree(names);
	return ret;
}

/*
 * Dump: where the tags of the page image path go: pagetags.img, opened
 * with the first page image written; in a helper process (the IPC
 * namespace's pages) its own pagetags-<id>.img, open in *own_fd.
 */
struct crypt_stream *crypt_dir_tags_writer(int dfd, struct crypt_dir *d, int *own_fd, const char *path)
{
	char name[NAME_MAX + 1];
	struct crypt_stream *cs;

	if (getpid() == dump_pid && d->tags_out)
		return d->tags_out;
	if (getpid() == dump_pid)
		snprintf(name, sizeof(name), "%s", CRYPT_TAGS_IMG);
	else if (strncmp(path, "pages-", 6) ||
		 snprintf(name, sizeof(name), "pagetags-%s", path + 6) >= sizeof(name)) {
		pr_err("%s: not a page image name\n", path);
		return NULL;
	}
	*own_fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, CR_FD_PERM);
	if (*own_fd < 0) {
		pr_perror("%s: can't open", name);
		return NULL;
	}
	cs = crypt_stream_open_write(d->ctx, *own_fd, name);
	if (!cs) {
		close_safe(own_fd);
		return NULL;
	}
	crypt_dir_note_written(name);
	if (getpid() == dump_pid) {
		d->tags_fd = *own_fd;
		*own_fd = -1;
		d->tags_out = cs;
	}
	return cs;
}

static void free_tags_writer(struct crypt_dir *d)
{
	crypt_stream_free(d->tags_out);
	d->tags_out = NULL;
	close_safe(&d->tags_fd);
}

/* After the manifest: signature.img, if the dump has a signer */
static int write_signature(int dfd)
{
	uint8_t digest[CRYPT_HASH_LEN], *manifest, *sig = NULL;
	size_t len, sig_len;
	int fd, ret = -1;

	manifest = read_small(dfd, CRYPT_MANIFEST_IMG, CRYPT_MANIFEST_IMG, CRYPT_MANIFEST_MAX, &len, NULL);
	if (!manifest)
		return -1;
	crypt_checkpoint_digest(&dump_entry, manifest, len, digest);
	xfree(manifest);
	if (crypt_sign(digest, &sig, &sig_len))
		return -1;
	if (!sig)
		return 0;
	fd = openat(dfd, CRYPT_SIGNATURE_IMG, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, CR_FD_PERM);
	if (fd < 0)
		pr_perror("%s: can't create", CRYPT_SIGNATURE_IMG);
	else
		ret = crypt_write_all(fd, sig, sig_len, CRYPT_SIGNATURE_IMG);
	if (fd >= 0 && close(fd) && !ret) {
		pr_perror("%s: can't write", CRYPT_SIGNATURE_IMG);
		ret = -1;
	}
	xfree(sig);
	return ret;
}

/* At the end of a dump or pre-dump that succeeded: pagetags.img, the manifest, the signature */
int crypt_dump_finish(void)
{
	struct crypt_dir *d;
	int ret, fd = -1;

	if (!opts.encrypt)
		return 0;
	if (crypt_dir_lookup(dump_dfd, &d) || !d->ctx || !crypt_dir_tags_writer(dump_dfd, d, &fd, CRYPT_TAGS_IMG))
		return -1;
	ret = crypt_stream_close_write(d->tags_out);
	free_tags_writer(d);
	if (ret) {
		pr_err("Can't write %s\n", CRYPT_TAGS_IMG);
		return -1;
	}
	ret = write_manifest(dump_dfd, d->ctx) || write_signature(dump_dfd);
	crypt_signer_free();
	crypt_entry_free(&dump_entry);
	return ret ? -1 : 0;
}

/* Whether the directory has a manifest: an encrypted checkpoint read, not one being dumped */
bool crypt_dir_listed(const struct crypt_dir *d)
{
	return d->manifest;
}

/* The line of the manifest (which starts with a newline) that names name, or NULL */
static const char *manifest_line(const struct crypt_dir *d, const char *name)
{
	size_t len = strlen(name);
	const char *p;

	for (p = strstr(d->manifest, name); p; p = strstr(p + 1, name))
		if (p > d->manifest && p[-1] == '\n' && (p[len] == '\n' || p[len] == ' '))
			return p;
	return NULL;
}

/* Whether the manifest lists name */
bool crypt_dir_lists(const struct crypt_dir *d, const char *name)
{
	return manifest_line(d, name);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Whether the manifest lists name with a digest, the SHA-256 of a file a
 * page server wrote, which the dump vouches for that way: 1 and the digest
 * in digest, 0 if it lists name alone, -1 if the line is malformed.
 */
int crypt_dir_digest(const struct crypt_dir *d, const char *name, uint8_t *digest)
{
	const char *p = manifest_line(d, name);
	int i, hi, lo;

	if (!p || p[strlen(name)] == '\n')
		return 0;
	p += strlen(name) + 1;
	for (i = 0; i < CRYPT_HASH_LEN; i++) {
		hi = hex_digit(p[2 * i]);
		lo = hex_digit(p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			break;
		digest[i] = hi << 4 | lo;
	}
	if (i < CRYPT_HASH_LEN || p[2 * CRYPT_HASH_LEN] != '\n') {
		set_cr_errno(EBADMSG);
		pr_err("%s: malformed line of %s\n", name, CRYPT_MANIFEST_IMG);
		return -1;
	}
	return 1;
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

	if (!crypt_dir_lists(d, name)) {
		set_cr_errno(EBADMSG);
		pr_err("%s: not listed in %s (not written by this dump)\n", name, CRYPT_MANIFEST_IMG);
		return -1;
	}
	fd = open_regular(dfd, name, name, &st);
	if (fd < 0) {
		if (errno == ENOENT) {
			set_cr_errno(EBADMSG);
			pr_err("%s: missing from the checkpoint (removed)\n", name);
		}
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

/* Restore: the salt and the tags of the page image path */
int crypt_dir_page_tags(int dfd, struct crypt_dir *d, const char *path, const uint8_t **salt, const uint8_t **tags,
			uint64_t *nr)
{
	if (load_tags(dfd, d))
		return -1;
	if (!crypt_tags_find(d->tags, path, salt, tags, nr)) {
		pr_err("%s: no tags for it in %s\n", path, CRYPT_TAGS_IMG);
		return -1;
	}
	return 0;
}

static bool is_encrypted(int dfd)
{
	struct stat st;

	return !fstatat(dfd, CRYPT_CIPHER_IMG, &st, AT_SYMLINK_NOFOLLOW);
}

/* A page server that serves lazy pages: encrypted ones it sends as they are stored */
bool crypt_dir_encrypted(int dfd)
{
	return is_encrypted(dfd);
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
static int check_parent(int dfd, char *dir, const CipherEntry *ce)
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
	if (!*dir)
		dir_name(dfd, dir, PATH_MAX);
	if (!ce) {
		if (is_encrypted(pfd))
			pr_err("%s: a plain checkpoint whose parent %s is encrypted\n", dir, pdir);
		else
			ret = crypt_dir_lookup(pfd, &p);
	} else if (!ce->has_parent) {
		set_cr_errno(EBADMSG);
		pr_err("%s/%s: has a parent link (%s) but records no parent\n", dir, CRYPT_CIPHER_IMG, pdir);
	} else if (!is_encrypted(pfd)) {
		set_cr_errno(EBADMSG);
		pr_err("%s/%s: missing: the parent of the encrypted checkpoint %s is a plain one\n", pdir,
		       CRYPT_CIPHER_IMG, dir);
	} else if (!crypt_dir_lookup(pfd, &p)) {
		if (memcmp(p->digest, ce->parent.data, CRYPT_HASH_LEN)) {
			set_cr_errno(EBADMSG);
			pr_err("%s/%s: the parent %s is not the checkpoint %s was dumped against\n", dir,
			       CRYPT_CIPHER_IMG, pdir, dir);
		} else {
			ret = 0;
		}
	}
	close(pfd);
	return ret;
}

/* cipher.img of the directory dfd (named dir): its keys, its entry */
static struct crypt_ctx *open_cipher(int dfd, const char *dir, CipherEntry **ce, uint8_t **raw, size_t *len)
{
	char name[PATH_MAX + 16];
	struct crypt_ctx *ctx;

	snprintf(name, sizeof(name), "%s/%s", dir, CRYPT_CIPHER_IMG);
	*raw = read_small(dfd, CRYPT_CIPHER_IMG, name, CRYPT_CIPHER_MAX, len, NULL);
	if (!*raw)
		return NULL;
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
	char dir[PATH_MAX] = ""; /* its name, for messages: not needed for a plain one */
	uint8_t *raw = NULL;
	struct crypt_dir *d;
	bool encrypted = is_encrypted(dfd);
	size_t len = 0;
	int r = -1;

	if (encrypted && opts.mode == CR_PAGE_SERVER) {
		/* it serves the pages as they are stored (PS_IOV_GET_SEALED) */
		dir_name(dfd, dir, sizeof(dir));
		pr_err("%s: a page server has no key and reads no image of an encrypted checkpoint\n", dir);
		goto out;
	}
	if (encrypted) {
		dir_name(dfd, dir, sizeof(dir));
		ctx = open_cipher(dfd, dir, &ce, &raw, &len);
		if (!ctx)
			goto out;
	} else if (opts.encrypt && opts.mode != CR_DUMP && opts.mode != CR_PRE_DUMP) {
		dir_name(dfd, dir, sizeof(dir));
		set_cr_errno(EBADMSG);
		pr_err("%s: not an encrypted checkpoint (no %s), and --encrypt asks for one\n", dir, CRYPT_CIPHER_IMG);
		goto out;
	}

	d = add_dir(st, ctx);
	if (!d) {
		crypt_ctx_free(ctx);
		goto out;
	}
	d->walking = true;
	r = (ctx && (read_manifest(dfd, d, ce) || check_signature(dfd, dir, d))) || check_parent(dfd, dir, ce) ||
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
 * records of it, the digest into digest (*has: there is one); a plain dump
 * refuses an encrypted parent.  The dump reads the parent (its inventory,
 * its pagemaps): it needs a key that opens it, also when its pages go to a
 * page server.
 */
static int dump_parent(int dfd, uint8_t *digest, bool *has)
{
	char dir[PATH_MAX], pdir[PATH_MAX];
	struct crypt_dir *pd;
	int pfd, ret = 0;

	*has = false;
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
		set_cr_errno(EBADMSG);
		pr_err("%s/%s: missing: the parent of the encrypted checkpoint %s is a plain one\n", pdir,
		       CRYPT_CIPHER_IMG, dir);
		ret = -1;
	} else if (crypt_init() || crypt_dir_lookup(pfd, &pd)) {
		ret = -1;
	} else {
		memcpy(digest, pd->digest, CRYPT_HASH_LEN);
		*has = true;
	}
	close(pfd);
	return ret;
}

/*
 * At the start of dump and pre-dump, before any task is frozen: make the
 * checkpoint key and cipher.img with --encrypt.
 */
int crypt_dump_init(void)
{
	int dfd = get_service_fd(IMG_FD_OFF);
	uint8_t digest[CRYPT_HASH_LEN];
	const char *const *certs;
	struct crypt_ctx *ctx;
	struct cr_img *img;
	int ret, nr;
	bool parent;
	struct stat st;

	/* a plain dump looks at nothing but its parent, which must be plain too */
	if (!opts.encrypt)
		return opts.img_parent ? dump_parent(dfd, digest, &parent) : 0;

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
	/* a signature of an earlier dump into this directory would not verify */
	if (unlinkat(dfd, CRYPT_SIGNATURE_IMG, 0) && errno != ENOENT) {
		pr_perror("%s: can't remove the old one", CRYPT_SIGNATURE_IMG);
		return -1;
	}
	certs = cert_paths(&nr);
	if (crypt_init() || written_init() || dump_parent(dfd, digest, &parent) || crypt_signer_init(certs, nr))
		return -1;
	ctx = crypt_ctx_new(certs, nr, parent ? digest : NULL, &dump_entry);
	if (!ctx) {
		crypt_signer_free();
		return -1;
	}
	img = open_image_at(dfd, CR_FD_CIPHER, O_DUMP);
	ret = img ? pb_write_one(img, &dump_entry, PB_CIPHER) : -1;
	if (img)
		close_image(img);
	if (ret || bfd_flush_images() || !add_dir(&st, ctx)) {
		pr_err("Can't write %s\n", CRYPT_CIPHER_IMG);
		crypt_ctx_free(ctx);
		crypt_entry_free(&dump_entry);
		crypt_signer_free();
		return -1;
	}
	pr_info("Encrypting the checkpoint for %zu recipient(s)%s\n", dump_entry.n_recipients,
		parent ? ", bound to its parent" : "");
	return 0;
}

/* A failed dump must not leave anything that restores. */
void crypt_dump_fail(void)
{
	struct crypt_dir *d;
	struct stat st;

	if (opts.encrypt && dump_dfd >= 0) {
		unlinkat(dump_dfd, CRYPT_CIPHER_IMG, 0);
		unlinkat(dump_dfd, CRYPT_MANIFEST_IMG, 0);
		unlinkat(dump_dfd, CRYPT_SIGNATURE_IMG, 0);
		crypt_signer_free();
		crypt_entry_free(&dump_entry);
		/* (a dump that failed before it made cipher.img has none) */
		d = fstatat(dump_dfd, "", &st, AT_EMPTY_PATH) ? NULL : loaded_dir(&st);
		if (d)
			free_tags_writer(d);
	}
}
