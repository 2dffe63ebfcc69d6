#ifndef __CR_CRYPT_H__
#define __CR_CRYPT_H__

/*
 * Checkpoint encryption; the format is in Documentation/encryption.txt.
 * Layers, one file each:
 *
 *   crypt-key.c     the checkpoint key: made at dump and wrapped for the
 *                   recipient's RSA key (cipher.img), unwrapped at
 *                   restore; every other key is derived from it.
 *   crypt-stream.c  the authenticated stream that seals every image but
 *                   the page images (ChaCha20-Poly1305, 64 KiB chunks).
 *   crypt-page.c    the page cipher: AES-256-XTS per 4 KiB page, in place,
 *                   and a GMAC tag per page.
 *   crypt-page-io.c pages through the page cipher: sealed on two cores at
 *                   dump, opened into the restored memory at restore;
 *                   the tags of a checkpoint's pages (pagetags.img).
 *   crypt-image.c   the hooks in CRIU's image I/O: cipher.img, which
 *                   image is sealed, memfds for users of raw image fds.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nettle/hmac.h>

#define CRYPT_FORMAT	 1
#define CRYPT_KEY_LEN	 32
#define CRYPT_ID_LEN	 16
#define CRYPT_HASH_LEN	 32
#define CRYPT_WRAP_ALG	 "rsa-oaep-sha256"
#define CRYPT_STREAM_ALG "chacha20-poly1305-64k"
#define CRYPT_PAGES_ALG	 "aes-256-xts+gmac"
#define CRYPT_CIPHER_IMG "cipher.img"
#define CRYPT_TAGS_IMG	 "pagetags.img"
#define CRYPT_MIN_RSA	 2048
#define CRYPT_CIPHER_MAX (64 << 10) /* cipher.img */

/* the stream (crypt-stream.c) */
#define CRYPT_CHUNK	(64 << 10)
#define CRYPT_TAG_LEN	16
#define CRYPT_IV_LEN	12
#define CRYPT_MAGIC_LEN 8
#define CRYPT_NONCE_LEN 16
#define CRYPT_HDR_LEN	(CRYPT_MAGIC_LEN + CRYPT_NONCE_LEN)

struct CipherEntry;

/* The keys of one checkpoint, that is of one images directory. */
struct crypt_ctx {
	uint8_t id[CRYPT_ID_LEN]; /* checkpoint id, public */
	/* HMAC-SHA256 keyed with PRK = HKDF-Extract(salt = id, checkpoint key) */
	struct hmac_sha256_ctx expand;
};

/* crypt-key.c */
extern struct crypt_ctx *crypt_ctx_new(const char *cert_path, const uint8_t *parent, struct CipherEntry *ce);
extern struct CipherEntry *crypt_cipher_parse(const uint8_t *buf, size_t len, const char *img);
extern void crypt_parent_digest(const uint8_t *cipher, size_t cipher_len, const uint8_t *manifest,
				size_t manifest_len, uint8_t *digest);
extern struct crypt_ctx *crypt_ctx_open(const struct CipherEntry *ce, const char *key_path, const char *img);
extern void crypt_ctx_key(struct crypt_ctx *ctx, const uint8_t *key);
extern void crypt_ctx_free(struct crypt_ctx *ctx);
extern void crypt_entry_free(struct CipherEntry *ce);
extern int crypt_init(void);
extern int crypt_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
extern void *crypt_buf_get(size_t len);
extern void crypt_buf_put(void *buf, size_t len);
extern void crypt_derive(const struct crypt_ctx *ctx, const char *label, const void *data, size_t data_len,
			 uint8_t *out, size_t len);
extern void crypt_wipe(void *p, size_t len);
extern void crypt_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len, uint8_t *prk);
extern void crypt_hkdf_expand(const uint8_t *prk, const uint8_t *info, size_t info_len, uint8_t *out, size_t len);

struct rsa_public_key;
struct rsa_private_key;
extern int crypt_oaep_encrypt(const struct rsa_public_key *pub, const uint8_t *msg, size_t msg_len, uint8_t *out);
extern int crypt_oaep_decrypt(const struct rsa_public_key *pub, const struct rsa_private_key *priv,
			      const uint8_t *in, size_t in_len, uint8_t *msg, size_t *msg_len);

/* crypt-stream.c */
struct crypt_stream;
extern struct crypt_stream *crypt_stream_open_write(const struct crypt_ctx *ctx, int fd, const char *name);
extern int crypt_stream_write(struct crypt_stream *s, const void *buf, size_t len);
extern int crypt_stream_close_write(struct crypt_stream *s);
extern struct crypt_stream *crypt_stream_open_read(const struct crypt_ctx *ctx, int fd, const char *name);
extern ssize_t crypt_stream_read(struct crypt_stream *s, void *buf, size_t len);
extern off_t crypt_stream_size(const struct crypt_stream *s);
extern void crypt_stream_free(struct crypt_stream *s);
extern int crypt_stream_write_from(struct crypt_stream *s, int fd, off_t off, off_t len);
extern int crypt_stream_write_fd(struct crypt_stream *s, int fd);
extern int crypt_stream_read_to(struct crypt_stream *s, int fd, off_t len);

/* crypt-page.c */
#define CRYPT_PAGE_SIZE	     4096
#define CRYPT_PAGE_TWEAK_LEN 16
struct crypt_pages;
extern struct crypt_pages *crypt_pages_new(const struct crypt_ctx *ctx, const char *name, const uint8_t *salt);
extern int crypt_pages_seal(struct crypt_pages *cp, uint64_t first, void *buf, unsigned long nr, uint8_t *tags);
extern int crypt_pages_seal_quiet(struct crypt_pages *cp, uint64_t first, void *buf, unsigned long nr,
				  uint8_t *tags);
extern int crypt_pages_open(struct crypt_pages *cp, uint64_t first, void *buf, unsigned long nr,
			    const uint8_t *tags);
extern void crypt_pages_free(struct crypt_pages *cp);
extern const char *crypt_pages_name(const struct crypt_pages *cp);

/* crypt-page-io.c */
struct page_writer;
struct page_reader;
struct iovec;
extern struct page_writer *crypt_page_writer_new(const struct crypt_ctx *ctx, struct crypt_pages *pages,
						 const char *name, const uint8_t *salt, int fd,
						 struct crypt_stream *tags);
extern int crypt_page_writer_add(struct page_writer *pw, int p, unsigned long len);
extern int crypt_page_writer_flush(struct page_writer *pw);
extern void crypt_page_writer_free(struct page_writer *pw);
extern struct page_reader *crypt_page_reader_new(struct crypt_pages *pages, int fd, const uint8_t *tags,
						 uint64_t nr);
extern ssize_t crypt_page_reader_preadv(struct page_reader *pr, const struct iovec *iov, int nr, off_t off);
extern void crypt_page_reader_free(struct page_reader *pr);
struct crypt_tagset;
extern int crypt_tags_record(struct crypt_stream *cs, const char *name, const uint8_t *salt, const uint8_t *tags,
			     uint32_t nr);
extern int crypt_tags_load(struct crypt_tagset **ts, struct crypt_stream *cs, const char *name);
extern bool crypt_tags_find(const struct crypt_tagset *ts, const char *name, const uint8_t **salt,
			    const uint8_t **tags, uint64_t *nr);
extern void crypt_tags_free(struct crypt_tagset *ts);

/* crypt-image.c */
struct cr_img;
struct crypt_file;
extern int crypt_dump_init(void);
extern void crypt_dump_fail(void);
extern int crypt_dump_finish(void);
extern int crypt_image_missing(int dfd, int type, const char *path);
extern int crypt_image_open(struct cr_img *img, int dfd, int type, int flags, const char *path);
extern bool crypt_image_pages(struct cr_img *img);
extern int crypt_pages_from_pipe(struct cr_img *img, int p, unsigned long len);
extern ssize_t crypt_pages_pread(struct cr_img *img, void *buf, size_t len, off_t off);
extern ssize_t crypt_pages_preadv(struct cr_img *img, const struct iovec *iov, int nr, off_t off);
extern int crypt_pages_copy_out(struct cr_img *img, int fd, off_t off, size_t len);
extern int crypt_image_copy_in(struct cr_img *img, int fd, off_t off, size_t len);
extern int crypt_image_copy_out(struct cr_img *img, int fd, off_t off, size_t len);

#endif /* __CR_CRYPT_H__ */
