#ifndef __CR_CRYPT_H__
#define __CR_CRYPT_H__

/*
 * Checkpoint encryption: what CRIU's own files call of the module
 * (criu/crypt-*.c, whose private header is criu/crypt-private.h).  The
 * format is in Documentation/encryption-format.txt, the design in
 * Documentation/encryption.txt.
 *
 * An images directory is encrypted when it holds cipher.img: then every
 * image opened in it goes through the module, from do_open_image() and
 * bfd.  A plain directory costs nothing but the look at cipher.img.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cr_img;
struct crypt_file;
struct crypt_remote;
struct iovec;

/* The first bytes of every sealed image (its magic is wrong to CRIU) */
#define CRYPT_MAGIC	"CRIUSEAL"
#define CRYPT_MAGIC_LEN 8

/* The tag of a page (a dump --lazy-pages sends them after the pages) */
#define CRYPT_PAGE_TAG_LEN 16

#ifdef CONFIG_ENCRYPTION

/* crypt-util.c: once per criu run, before any key is used (criu check too) */
extern int crypt_init(void);

/* crypt-dir.c: the start and the end of a dump or pre-dump */
extern int crypt_dump_init(void);
extern void crypt_dump_fail(void);
extern int crypt_dump_finish(void);

/* crypt-image.c: do_open_image() */
extern int crypt_image_open(struct cr_img *img, int dfd, int type, int flags, const char *path);
extern int crypt_image_missing(int dfd, int type, const char *path);
/* crypt-image.c: img_check_magic(), for an image whose magic is wrong */
extern bool crypt_image_sealed(const char *path, uint32_t magic);

/* crypt-image.c: bfd and the users of raw image fds */
extern ssize_t crypt_file_read(struct crypt_file *cf, void *buf, size_t len);
extern ssize_t crypt_file_write(struct crypt_file *cf, const void *buf, size_t len);
extern int crypt_file_raw_fd(struct crypt_file *cf);
extern off_t crypt_file_size(struct crypt_file *cf);
extern int crypt_file_close(struct crypt_file *cf);

/* crypt-image.c: page images and ghost files */
extern bool crypt_image_pages(struct cr_img *img);
extern int crypt_pages_from_pipe(struct cr_img *img, int p, unsigned long len);
extern ssize_t crypt_pages_preadv(struct cr_img *img, const struct iovec *iov, int nr, off_t off);
extern ssize_t crypt_pages_pread(struct cr_img *img, void *buf, size_t len, off_t off);
extern int crypt_pages_open_at(struct cr_img *img, void *buf, size_t len, off_t off);
extern int crypt_pages_copy_out(struct cr_img *img, int fd, off_t off, size_t len);
extern int crypt_image_copy_in(struct cr_img *img, int fd, off_t off, size_t len);
extern int crypt_image_copy_out(struct cr_img *img, int fd, off_t off, size_t len);

/* crypt-dir.c: a page server, which has no key: is the images directory dfd encrypted? */
extern bool crypt_dir_encrypted(int dfd);

/* crypt-lazy.c: page-xfer.c and pagemap.c, the pages a dump --lazy-pages serves from memory */
extern int crypt_lazy_send(int sk, int p, unsigned long id, unsigned long vaddr, unsigned long nr);
extern int crypt_lazy_open(unsigned long id, unsigned long vaddr, void *buf, unsigned long nr, const uint8_t *tags);

/* crypt-remote.c: page-xfer.c, for a page server that stores an encrypted dump */
extern struct crypt_remote *crypt_remote_open(int sk, int type, unsigned long id, uint32_t pages_id);
extern struct cr_img *crypt_remote_pagemap(struct crypt_remote *r);
extern int crypt_remote_pages(struct crypt_remote *r, int p, unsigned long len);
extern void crypt_remote_close(struct crypt_remote *r);

#else /* CONFIG_ENCRYPTION */

/*
 * Built without encryption (make NO_ENCRYPTION=1, or without GnuTLS,
 * Nettle or libsodium): --encrypt and an encrypted directory are refused
 * (crypt-none.c), and nothing else is ever sealed.
 */
extern int crypt_init(void);
extern int crypt_dump_init(void);
extern int crypt_image_open(struct cr_img *img, int dfd, int type, int flags, const char *path);
extern bool crypt_image_sealed(const char *path, uint32_t magic);
extern bool crypt_dir_encrypted(int dfd);

static inline void crypt_dump_fail(void)
{
}
static inline int crypt_dump_finish(void)
{
	return 0;
}
static inline int crypt_image_missing(int dfd, int type, const char *path)
{
	return 0;
}
static inline ssize_t crypt_file_read(struct crypt_file *cf, void *buf, size_t len)
{
	return -1;
}
static inline ssize_t crypt_file_write(struct crypt_file *cf, const void *buf, size_t len)
{
	return -1;
}
static inline int crypt_file_raw_fd(struct crypt_file *cf)
{
	return -1;
}
static inline off_t crypt_file_size(struct crypt_file *cf)
{
	return -1;
}
static inline int crypt_file_close(struct crypt_file *cf)
{
	return 0;
}
static inline bool crypt_image_pages(struct cr_img *img)
{
	return false;
}
static inline int crypt_pages_from_pipe(struct cr_img *img, int p, unsigned long len)
{
	return -1;
}
static inline ssize_t crypt_pages_preadv(struct cr_img *img, const struct iovec *iov, int nr, off_t off)
{
	return -1;
}
static inline ssize_t crypt_pages_pread(struct cr_img *img, void *buf, size_t len, off_t off)
{
	return -1;
}
static inline int crypt_pages_open_at(struct cr_img *img, void *buf, size_t len, off_t off)
{
	return -1;
}
static inline int crypt_pages_copy_out(struct cr_img *img, int fd, off_t off, size_t len)
{
	return -1;
}
static inline int crypt_image_copy_in(struct cr_img *img, int fd, off_t off, size_t len)
{
	return 1;
}
static inline int crypt_image_copy_out(struct cr_img *img, int fd, off_t off, size_t len)
{
	return 1;
}

/* never called: --encrypt is refused first, and nothing is ever sealed */
static inline int crypt_lazy_send(int sk, int p, unsigned long id, unsigned long vaddr, unsigned long nr)
{
	return -1;
}
static inline int crypt_lazy_open(unsigned long id, unsigned long vaddr, void *buf, unsigned long nr,
				  const uint8_t *tags)
{
	return -1;
}

static inline struct crypt_remote *crypt_remote_open(int sk, int type, unsigned long id, uint32_t pages_id)
{
	return NULL;
}
static inline struct cr_img *crypt_remote_pagemap(struct crypt_remote *r)
{
	return NULL;
}
static inline int crypt_remote_pages(struct crypt_remote *r, int p, unsigned long len)
{
	return -1;
}
static inline void crypt_remote_close(struct crypt_remote *r)
{
}

#endif /* CONFIG_ENCRYPTION */

#endif /* __CR_CRYPT_H__ */
