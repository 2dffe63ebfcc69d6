#ifndef __CR_CRYPT_PRIVATE_H__
#define __CR_CRYPT_PRIVATE_H__

/*
 * What the files of the encryption module share; CRIU's own files see
 * only crypt.h.  The format is in Documentation/encryption-format.txt.
 * One concern a file:
 *
 *   crypt-util.c    libraries set up, wiping, randomness, constant-time
 *                   compare, the buffer cache, threads
 *   crypt-work.c    the worker-thread engine: jobs cut in units that a
 *                   helper thread and the caller run together
 *   crypt-pki.c     certificates and private keys: reading them, their
 *                   ids, verifying them against a CA and its CRL
 *   crypt-rsa.c     the RSA wrap: RSA-OAEP (SHA-256) on Nettle and GMP
 *   crypt-ecdh.c    the EC wrap: ephemeral ECDH (P-256, P-384), HKDF and
 *                   ChaCha20-Poly1305
 *   crypt-kdf.c     the key schedule: HKDF-SHA256 and its labels
 *   crypt-cipher.c  cipher.img: the checkpoint key wrapped for each
 *                   recipient, the MAC, the checkpoint's digest
 *   crypt-sign.c    signature.img: the dump's signature, its check
 *   crypt-stream.c  the authenticated stream (ChaCha20-Poly1305, 64 KiB)
 *                   of every image but the page images
 *   crypt-page.c    the page cipher: AES-256-XTS and a GMAC tag a page
 *   crypt-page-io.c pages through the page cipher: the dump's writer, the
 *                   restore's reader
 *   crypt-tags.c    pagetags.img: the salt and tags of the page images
 *   crypt-dir.c     a checkpoint directory: its keys, its manifest, its
 *                   parent, the restore policy, the start and end of a dump
 *   crypt-image.c   the hooks in CRIU's image I/O
 *   crypt-remote.c  what a page server stores of an encrypted dump
 */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/hmac.h>

#include "cr-errno.h"
#include "crypt.h"

#undef LOG_PREFIX
#define LOG_PREFIX "crypt: "

#define CRYPT_FORMAT	     2
#define CRYPT_KEY_LEN	     32
#define CRYPT_ID_LEN	     16
#define CRYPT_HASH_LEN	     32
#define CRYPT_WRAP_RSA	     "rsa-oaep-sha256"
#define CRYPT_WRAP_P256	     "ecdh-p256-hkdf-sha256"
#define CRYPT_WRAP_P384	     "ecdh-p384-hkdf-sha256"
#define CRYPT_STREAM_ALG     "chacha20-poly1305-64k"
#define CRYPT_PAGES_ALG	     "aes-256-xts+gmac"
#define CRYPT_CIPHER_IMG     "cipher.img"
#define CRYPT_TAGS_IMG	     "pagetags.img"
#define CRYPT_MANIFEST_IMG   "manifest.img"
#define CRYPT_SIGNATURE_IMG  "signature.img"
#define CRYPT_MAX_RECIPIENTS 16
#define CRYPT_MAX_CHAIN	     8 /* certificates of a recipient or signer */
#define CRYPT_MIN_RSA	     2048
#define CRYPT_CIPHER_MAX     (64 << 10) /* cipher.img, signature.img */
#define CRYPT_MANIFEST_MAX   (64 << 20)
#define CRYPT_VOUCHED_MAX    (64 << 20) /* a page server's pagemap image */

/* CRIU's PKI files, as for TLS (tls.c) */
#define CRYPT_DEFAULT_CERT   SYSCONFDIR "/pki/criu/cert.pem"
#define CRYPT_DEFAULT_KEY    SYSCONFDIR "/pki/criu/private/key.pem"
#define CRYPT_DEFAULT_CACERT SYSCONFDIR "/pki/CA/cacert.pem"
#define CRYPT_DEFAULT_CACRL  SYSCONFDIR "/pki/CA/cacrl.pem"

/* the stream */
#define CRYPT_CHUNK	(64 << 10)
#define CRYPT_TAG_LEN	CRYPT_PAGE_TAG_LEN
#define CRYPT_IV_LEN	12
#define CRYPT_NONCE_LEN 16
#define CRYPT_HDR_LEN	(CRYPT_MAGIC_LEN + CRYPT_NONCE_LEN)

/* the pages */
#define CRYPT_PAGE_SIZE	     4096
#define CRYPT_PAGE_TWEAK_LEN 16
#define CRYPT_GMAC_NONCE_LEN 12

struct CipherEntry;
struct CipherRecipient;
struct iovec;
struct stat;

/* The keys of one checkpoint, that is of one images directory. */
struct crypt_ctx {
	uint8_t id[CRYPT_ID_LEN]; /* checkpoint id, public */
	/* HMAC-SHA256 keyed with PRK = HKDF-Extract(salt = id, checkpoint key) */
	struct hmac_sha256_ctx expand;
};

/* crypt-util.c */
extern void crypt_wipe(void *p, size_t len);
extern int crypt_random(void *buf, size_t len);
extern void crypt_nettle_random(void *failed, size_t len, uint8_t *dst);
extern bool crypt_equal(const void *a, const void *b, size_t len);
extern void *crypt_buf_get(size_t len);
extern void crypt_buf_put(void *buf, size_t len);
extern int crypt_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
extern int crypt_write_all(int fd, const void *buf, size_t len, const char *name);
extern int crypt_read_exact(int fd, void *buf, size_t len, off_t off, const char *name);
extern int crypt_copy_hashed(int in, int out, off_t len, uint8_t *digest, const char *name);

/*
 * crypt-work.c: a job is cut in units, run by fn(job, unit, thread) on
 * the caller's thread (0) or the engine's helper thread (1), oldest job
 * first; the caller posts jobs and waits for each, running units itself
 * meanwhile.  Without a helper the caller runs them all.
 */
struct crypt_job;
typedef void (*crypt_unit_fn)(struct crypt_job *job, unsigned int unit, int thread);
struct crypt_job {
	crypt_unit_fn fn;
	void *arg;
	unsigned int units;	  /* to run */
	unsigned int next;	  /* the next unit to claim */
	unsigned int done;	  /* units run */
	struct crypt_job *queued; /* the next job with units to claim */
};
struct crypt_engine {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct crypt_job *head, *tail; /* jobs with units to claim */
	pthread_t thread;
	bool helped; /* the helper runs */
	bool stop;
};
extern void crypt_engine_init(struct crypt_engine *e);
extern bool crypt_engine_start(struct crypt_engine *e);
extern void crypt_engine_post(struct crypt_engine *e, struct crypt_job *job, crypt_unit_fn fn, void *arg,
			      unsigned int units);
extern void crypt_engine_wait(struct crypt_engine *e, struct crypt_job *job);
extern void crypt_engine_fini(struct crypt_engine *e);

/* crypt-pki.c */
extern int crypt_chain_load(const char *path, gnutls_x509_crt_t **chain, unsigned int *nr);
extern void crypt_chain_free(gnutls_x509_crt_t *chain, unsigned int nr);
extern int crypt_key_load(const char *path, gnutls_x509_privkey_t *key);
extern int crypt_cert_id(gnutls_x509_crt_t crt, uint8_t *kid);
extern int crypt_key_id(gnutls_x509_privkey_t key, uint8_t *kid);
extern const char *crypt_dump_ca(void);
extern const char *crypt_restore_ca(void);
extern int crypt_chain_verify(const char *what, gnutls_x509_crt_t *chain, unsigned int nr, const char *ca);
extern char *crypt_cert_subject(gnutls_x509_crt_t crt);

/* crypt-rsa.c */
struct rsa_public_key;
struct rsa_private_key;
extern int crypt_oaep_encrypt(const struct rsa_public_key *pub, const uint8_t *msg, size_t msg_len, uint8_t *out);
extern int crypt_oaep_decrypt(const struct rsa_public_key *pub, const struct rsa_private_key *priv,
			      const uint8_t *in, size_t in_len, uint8_t *msg, size_t *msg_len);
extern int crypt_rsa_wrap(gnutls_x509_crt_t crt, const char *path, const uint8_t *key, struct CipherRecipient *r);
extern int crypt_rsa_unwrap(gnutls_x509_privkey_t k, const char *path, const struct CipherRecipient *r,
			    uint8_t *key, const char *img);

/* crypt-ecdh.c */
extern int crypt_ecdh_wrap(gnutls_x509_crt_t crt, const char *path, const uint8_t *id, const uint8_t *key,
			   struct CipherRecipient *r);
extern int crypt_ecdh_unwrap(gnutls_x509_privkey_t k, const char *path, const uint8_t *id,
			     const struct CipherRecipient *r, uint8_t *key, const char *img);

/* crypt-kdf.c: the labels, each followed by 0x00 and its context in the HKDF info */
#define CRYPT_LABEL_CIPHER "criu-encrypt v2 cipher.img"
#define CRYPT_LABEL_STREAM "criu-encrypt v1 stream"
#define CRYPT_LABEL_XTS	   "criu-encrypt v1 pages xts"
#define CRYPT_LABEL_TAG	   "criu-encrypt v1 pages tag"
#define CRYPT_LABEL_ECDH   "criu-encrypt v2 ecdh"
/* SHA-256 and signature prefixes, not HKDF */
#define CRYPT_LABEL_CHECKPOINT "criu-encrypt v2 checkpoint"
#define CRYPT_LABEL_SIGNATURE  "criu-encrypt v2 signature"
extern void crypt_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len, uint8_t *prk);
extern void crypt_hkdf_expand(const uint8_t *prk, const uint8_t *info, size_t info_len, uint8_t *out, size_t len);
extern void crypt_ctx_key(struct crypt_ctx *ctx, const uint8_t *key);
extern void crypt_derive(const struct crypt_ctx *ctx, const char *label, const void *data, size_t data_len,
			 uint8_t *out, size_t len);
extern void crypt_derive_named(const struct crypt_ctx *ctx, const char *label, const uint8_t *nonce,
			       const char *name, uint8_t *out, size_t len);

/* crypt-cipher.c */
extern struct crypt_ctx *crypt_ctx_new(const char *const *certs, int nr, const uint8_t *parent,
				       struct CipherEntry *ce);
extern struct CipherEntry *crypt_cipher_parse(const uint8_t *buf, size_t len, const char *img);
extern void crypt_checkpoint_digest(const struct CipherEntry *ce, const uint8_t *manifest, size_t manifest_len,
				    uint8_t *digest);
extern struct crypt_ctx *crypt_ctx_open(const struct CipherEntry *ce, const char *key_path, const char *img);
extern void crypt_ctx_free(struct crypt_ctx *ctx);
extern void crypt_entry_free(struct CipherEntry *ce);

/* crypt-sign.c */
extern int crypt_signer_init(const char *const *certs, int nr);
extern void crypt_signer_free(void);
extern int crypt_sign(const uint8_t *digest, uint8_t **buf, size_t *len);
extern int crypt_sign_verify(const uint8_t *buf, size_t len, const char *name, const uint8_t *digest,
			     const char *ca);

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
struct crypt_pages;
extern struct crypt_pages *crypt_pages_new(const struct crypt_ctx *ctx, const char *name, const uint8_t *salt);
extern struct crypt_pages *crypt_pages_with_keys(const uint8_t *kx, const uint8_t *kt, const char *name);
extern int crypt_pages_gmac(struct crypt_pages *cp, const uint8_t *nonce, const void *data, size_t len, uint8_t *tag);
extern int crypt_pages_seal(struct crypt_pages *cp, uint64_t first, void *buf, unsigned long nr, uint8_t *tags);
extern int crypt_pages_seal_quiet(struct crypt_pages *cp, uint64_t first, void *buf, unsigned long nr,
				  uint8_t *tags);
extern void crypt_pages_by_address(struct crypt_pages *cp);
extern int crypt_pages_open(struct crypt_pages *cp, uint64_t first, void *buf, unsigned long nr,
			    const uint8_t *tags);
extern void crypt_pages_free(struct crypt_pages *cp);
extern const char *crypt_pages_name(const struct crypt_pages *cp);

/* crypt-page-io.c */
struct page_writer;
struct page_reader;
typedef int (*crypt_out_fn)(int fd, const void *buf, size_t len);
extern struct page_writer *crypt_page_writer_new(const struct crypt_ctx *ctx, struct crypt_pages *pages,
						 const char *name, const uint8_t *salt, int fd,
						 struct crypt_stream *tags);
extern int crypt_page_writer_add(struct page_writer *pw, int p, unsigned long len);
extern void crypt_page_writer_out(struct page_writer *pw, crypt_out_fn out);
extern int crypt_page_writer_sync(struct page_writer *pw);
extern int crypt_page_writer_flush(struct page_writer *pw);
extern void crypt_page_writer_free(struct page_writer *pw);
extern struct page_reader *crypt_page_reader_new(struct crypt_pages *pages, int fd, const uint8_t *tags,
						 uint64_t nr);
extern ssize_t crypt_page_reader_preadv(struct page_reader *pr, const struct iovec *iov, int nr, off_t off);
extern void crypt_page_reader_free(struct page_reader *pr);
extern int crypt_page_reader_open(struct page_reader *pr, void *buf, uint64_t first, unsigned long nr);

/* crypt-tags.c */
struct crypt_tagset;
extern int crypt_tags_record(struct crypt_stream *cs, const char *name, const uint8_t *salt, const uint8_t *tags,
			     uint32_t nr);
extern int crypt_tags_load(struct crypt_tagset **ts, struct crypt_stream *cs, const char *name);
extern bool crypt_tags_find(const struct crypt_tagset *ts, const char *name, const uint8_t **salt,
			    const uint8_t **tags, uint64_t *nr);
extern void crypt_tags_free(struct crypt_tagset *ts);

/* crypt-dir.c */
struct crypt_dir;
extern int crypt_dir_lookup(int dfd, struct crypt_dir **d);
extern struct crypt_ctx *crypt_dir_ctx(const struct crypt_dir *d);
extern bool crypt_dir_listed(const struct crypt_dir *d);
extern bool crypt_dir_lists(const struct crypt_dir *d, const char *name);
extern void crypt_dir_note_written(const char *name);
extern void crypt_dir_note_failed(void);
extern int crypt_dir_digest(const struct crypt_dir *d, const char *name, uint8_t *digest);
extern struct crypt_stream *crypt_dir_tags_writer(int dfd, struct crypt_dir *d, int *own_fd, const char *path);
extern int crypt_dir_page_tags(int dfd, struct crypt_dir *d, const char *path, const uint8_t **salt,
			       const uint8_t **tags, uint64_t *nr);

#endif /* __CR_CRYPT_PRIVATE_H__ */
