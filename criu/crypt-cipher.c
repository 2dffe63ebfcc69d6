/*
 * cipher.img: the random checkpoint key wrapped for each recipient
 * (crypt-rsa.c, crypt-ecdh.c), the MAC that binds the checkpoint's id,
 * algorithms and parent to the key, and the checkpoint's digest, which a
 * child records of its parent and a signature signs.  See
 * Documentation/encryption-format.txt, sections 4 and 9.
 */
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include "log.h"
#include "magic.h"
#include "common/xmalloc.h"
#include "crypt-private.h"
#include "images/cipher.pb-c.h"

typedef void (*update_fn)(void *h, size_t len, const uint8_t *data);

static void mac_update(void *h, size_t len, const uint8_t *data)
{
	hmac_sha256_update(h, len, data);
}

static void hash_update(void *h, size_t len, const uint8_t *data)
{
	sha256_update(h, len, data);
}

static void put_field(update_fn update, void *h, const void *data, size_t len)
{
	uint8_t be[2] = { len >> 8, len & 0xff };

	update(h, 2, be);
	update(h, len, data);
}

/* M: every field of cipher.img but the recipients and the MAC; its length */
static size_t put_m(update_fn update, void *h, const CipherEntry *ce)
{
	uint8_t fmt[4] = { ce->format >> 24, ce->format >> 16, ce->format >> 8, ce->format };

	if (update) {
		put_field(update, h, fmt, sizeof(fmt));
		put_field(update, h, ce->id.data, ce->id.len);
		put_field(update, h, ce->stream, strlen(ce->stream));
		put_field(update, h, ce->pages, strlen(ce->pages));
		if (ce->has_parent)
			put_field(update, h, ce->parent.data, ce->parent.len);
	}
	return 2 + sizeof(fmt) + 2 + ce->id.len + 2 + strlen(ce->stream) + 2 + strlen(ce->pages) +
	       (ce->has_parent ? 2 + ce->parent.len : 0);
}

/* HMAC-SHA256 under the "cipher.img" key over M */
static void header_mac(const struct crypt_ctx *ctx, const CipherEntry *ce, uint8_t *mac)
{
	uint8_t key[CRYPT_KEY_LEN];
	struct hmac_sha256_ctx h;

	crypt_derive(ctx, CRYPT_LABEL_CIPHER, NULL, 0, key, sizeof(key));
	hmac_sha256_set_key(&h, sizeof(key), key);
	put_m(mac_update, &h, ce);
	hmac_sha256_digest(&h, CRYPT_HASH_LEN, mac);
	crypt_wipe(&h, sizeof(h));
	crypt_wipe(key, sizeof(key));
}

static CipherRecipient *new_recipient(CipherEntry *ce)
{
	CipherRecipient *r = xzalloc(sizeof(*r));

	if (!r)
		return NULL;
	cipher_recipient__init(r);
	r->key_id.data = xmalloc(CRYPT_HASH_LEN);
	if (!r->key_id.data) {
		xfree(r);
		return NULL;
	}
	r->key_id.len = CRYPT_HASH_LEN;
	ce->recipients[ce->n_recipients++] = r;
	return r;
}

static bool has_recipient(const CipherEntry *ce, const uint8_t *kid)
{
	size_t i;

	for (i = 0; i < ce->n_recipients; i++)
		if (!memcmp(ce->recipients[i]->key_id.data, kid, CRYPT_HASH_LEN))
			return true;
	return false;
}

/*
 * The checkpoint key (of the checkpoint id) wrapped for the certificate
 * path, a new recipient of ce, unless it is one already.  With a CA the
 * certificate must chain to it, be valid and not be revoked.
 */
static int add_recipient(CipherEntry *ce, const char *path, const uint8_t *id, const uint8_t *key, const char *ca)
{
	uint8_t kid[CRYPT_HASH_LEN];
	gnutls_x509_crt_t *chain;
	CipherRecipient *r;
	unsigned int nr;
	int ret = -1, alg;

	if (crypt_chain_load(path, &chain, &nr))
		return -1;
	if (crypt_cert_id(chain[0], kid)) {
		pr_err("%s: can't read the certificate's key\n", path);
		goto out;
	}
	if (has_recipient(ce, kid)) {
		ret = 0;
		goto out;
	}
	if (ca && crypt_chain_verify(path, chain, nr, ca))
		goto out;
	if (!ca)
		pr_info("%s: the recipient is not verified (no --tls-cacert)\n", path);
	if (ce->n_recipients == CRYPT_MAX_RECIPIENTS) {
		pr_err("%s: more than %d recipients\n", path, CRYPT_MAX_RECIPIENTS);
		goto out;
	}
	r = new_recipient(ce);
	if (!r)
		goto out;
	memcpy(r->key_id.data, kid, CRYPT_HASH_LEN);
	alg = gnutls_x509_crt_get_pk_algorithm(chain[0], NULL);
	if (alg == GNUTLS_PK_RSA)
		ret = crypt_rsa_wrap(chain[0], path, key, r);
	else if (alg == GNUTLS_PK_ECDSA)
		ret = crypt_ecdh_wrap(chain[0], path, id, key, r);
	else {
		set_cr_errno(ENOKEY);
		pr_err("%s: unsupported key type %s (RSA, ECDSA P-256 or P-384)\n", path,
		       gnutls_pk_algorithm_get_name(alg) ?: "unknown");
	}
out:
	crypt_chain_free(chain, nr);
	return ret;
}

/*
 * A new checkpoint key for the recipients of the nr certificates certs.
 * Fills ce (its fields are xmalloc()'d; free them with crypt_entry_free()).
 */
struct crypt_ctx *crypt_ctx_new(const char *const *certs, int nr, const uint8_t *parent, CipherEntry *ce)
{
	const char *ca = crypt_dump_ca();
	struct crypt_ctx *ctx = NULL;
	uint8_t key[CRYPT_KEY_LEN];
	int i;

	cipher_entry__init(ce);
	ctx = xzalloc(sizeof(*ctx));
	ce->id.data = xmalloc(CRYPT_ID_LEN);
	ce->mac.data = xmalloc(CRYPT_HASH_LEN);
	ce->recipients = xzalloc(CRYPT_MAX_RECIPIENTS * sizeof(*ce->recipients));
	if (!ctx || !ce->id.data || !ce->mac.data || !ce->recipients)
		goto err;
	if (parent) {
		ce->parent.data = xmemdup(parent, CRYPT_HASH_LEN);
		if (!ce->parent.data)
			goto err;
		ce->parent.len = CRYPT_HASH_LEN;
		ce->has_parent = true;
	}
	if (crypt_random(key, sizeof(key)) || crypt_random(ctx->id, sizeof(ctx->id)))
		goto err;
	for (i = 0; i < nr; i++)
		if (add_recipient(ce, certs[i], ctx->id, key, ca))
			goto err;
	crypt_ctx_key(ctx, key);
	crypt_wipe(key, sizeof(key));

	ce->format = CRYPT_FORMAT;
	memcpy(ce->id.data, ctx->id, CRYPT_ID_LEN);
	ce->id.len = CRYPT_ID_LEN;
	ce->stream = CRYPT_STREAM_ALG;
	ce->pages = CRYPT_PAGES_ALG;
	header_mac(ctx, ce, ce->mac.data);
	ce->mac.len = CRYPT_HASH_LEN;
	return ctx;
err:
	crypt_wipe(key, sizeof(key));
	crypt_ctx_free(ctx);
	crypt_entry_free(ce);
	return NULL;
}

void crypt_entry_free(CipherEntry *ce)
{
	CipherRecipient *r;
	size_t i;

	for (i = 0; ce->recipients && i < ce->n_recipients; i++) {
		r = ce->recipients[i];
		xfree(r->key_id.data);
		xfree(r->wrapped_key.data);
		xfree(r->ephemeral.data);
		xfree(r);
	}
	xfree(ce->recipients);
	xfree(ce->id.data);
	xfree(ce->mac.data);
	xfree(ce->parent.data);
	ce->recipients = NULL;
	ce->n_recipients = 0;
	ce->id.data = ce->mac.data = ce->parent.data = NULL;
}

static bool alg_is(const char *img, const char *what, const char *have, const char *want)
{
	if (have && !strcmp(have, want))
		return true;
	set_cr_errno(EBADMSG);
	pr_err("%s: unsupported %s algorithm '%s' (this criu knows '%s')\n", img, what, have ?: "", want);
	return false;
}

static bool well_formed(const CipherEntry *ce, const char *img)
{
	size_t i, j;

	if (ce->format != CRYPT_FORMAT) {
		set_cr_errno(EBADMSG);
		pr_err("%s: unsupported format version %u (this criu knows %d)\n", img, ce->format, CRYPT_FORMAT);
		return false;
	}
	if (!alg_is(img, "stream", ce->stream, CRYPT_STREAM_ALG) || !alg_is(img, "page", ce->pages, CRYPT_PAGES_ALG))
		return false;
	if (ce->id.len != CRYPT_ID_LEN || ce->mac.len != CRYPT_HASH_LEN ||
	    (ce->has_parent && ce->parent.len != CRYPT_HASH_LEN) || !ce->n_recipients ||
	    ce->n_recipients > CRYPT_MAX_RECIPIENTS)
		goto bad;
	/* fields of another format, which the MAC would not cover */
	if (ce->base.n_unknown_fields)
		goto bad;
	for (i = 0; i < ce->n_recipients; i++) {
		if (ce->recipients[i]->key_id.len != CRYPT_HASH_LEN || ce->recipients[i]->base.n_unknown_fields)
			goto bad;
		for (j = 0; j < i; j++)
			if (!memcmp(ce->recipients[i]->key_id.data, ce->recipients[j]->key_id.data, CRYPT_HASH_LEN))
				goto bad;
	}
	return true;
bad:
	set_cr_errno(EBADMSG);
	pr_err("%s: malformed\n", img);
	return false;
}

/* The recipient of the key id kid, or NULL */
static const CipherRecipient *find_recipient(const CipherEntry *ce, const uint8_t *kid)
{
	size_t i;

	for (i = 0; i < ce->n_recipients; i++)
		if (!memcmp(ce->recipients[i]->key_id.data, kid, CRYPT_HASH_LEN))
			return ce->recipients[i];
	return NULL;
}

/* The checkpoint key of ce (cipher.img img) with the private key key_path, into key */
static int unwrap(const CipherEntry *ce, const char *key_path, const char *img, uint8_t *key)
{
	const CipherRecipient *r;
	uint8_t kid[CRYPT_HASH_LEN];
	gnutls_x509_privkey_t k;
	int ret = -1, alg;

	if (crypt_key_load(key_path, &k))
		return -1;
	if (crypt_key_id(k, kid)) {
		pr_err("%s: can't read the key's id\n", key_path);
		goto out;
	}
	r = find_recipient(ce, kid);
	if (!r) {
		set_cr_errno(EKEYREJECTED);
		pr_err("%s: the checkpoint is encrypted for another key than %s (none of its %zu recipients)\n", img,
		       key_path, ce->n_recipients);
		goto out;
	}
	alg = gnutls_x509_privkey_get_pk_algorithm(k);
	if (alg == GNUTLS_PK_RSA && alg_is(img, "key wrap", r->wrap, CRYPT_WRAP_RSA))
		ret = crypt_rsa_unwrap(k, key_path, r, key, img);
	else if (alg == GNUTLS_PK_ECDSA)
		ret = crypt_ecdh_unwrap(k, key_path, ce->id.data, r, key, img);
	else if (alg != GNUTLS_PK_RSA) {
		set_cr_errno(ENOKEY);
		pr_err("%s: unsupported key type %s\n", key_path, gnutls_pk_algorithm_get_name(alg) ?: "unknown");
	}
out:
	gnutls_x509_privkey_deinit(k);
	return ret;
}

/* The keys of an existing checkpoint, whose cipher.img (named img) is ce. */
struct crypt_ctx *crypt_ctx_open(const CipherEntry *ce, const char *key_path, const char *img)
{
	uint8_t key[CRYPT_KEY_LEN], mac[CRYPT_HASH_LEN];
	struct crypt_ctx *ctx = NULL;

	if (!well_formed(ce, img) || unwrap(ce, key_path, img, key))
		goto out;
	ctx = xzalloc(sizeof(*ctx));
	if (!ctx)
		goto out;
	memcpy(ctx->id, ce->id.data, CRYPT_ID_LEN);
	crypt_ctx_key(ctx, key);
	header_mac(ctx, ce, mac);
	if (!crypt_equal(mac, ce->mac.data, CRYPT_HASH_LEN)) {
		set_cr_errno(EBADMSG);
		pr_err("%s: authentication failed (tampered)\n", img);
		crypt_ctx_free(ctx);
		ctx = NULL;
	}
out:
	crypt_wipe(key, sizeof(key));
	return ctx;
}

/*
 * cipher.img as a file: the image magics, one entry size, one cipher_entry.
 * It is read before anything is authenticated, so every length is checked
 * against what was read.
 */
CipherEntry *crypt_cipher_parse(const uint8_t *buf, size_t len, const char *img)
{
	uint32_t magic[2] = { IMG_COMMON_MAGIC, CIPHER_MAGIC }, size;
	CipherEntry *ce;

	if (len < sizeof(magic) + sizeof(size) || memcmp(buf, magic, sizeof(magic))) {
		set_cr_errno(EBADMSG);
		pr_err("%s: not a cipher.img (bad magic)\n", img);
		return NULL;
	}
	memcpy(&size, buf + sizeof(magic), sizeof(size));
	if (size != len - sizeof(magic) - sizeof(size)) {
		set_cr_errno(EBADMSG);
		pr_err("%s: malformed (an entry of %u bytes in %zu)\n", img, size, len);
		return NULL;
	}
	ce = cipher_entry__unpack(NULL, size, buf + sizeof(magic) + sizeof(size));
	if (!ce) {
		set_cr_errno(EBADMSG);
		pr_err("%s: malformed (not a cipher entry)\n", img);
	}
	return ce;
}

static void put_be64(struct sha256_ctx *h, uint64_t v)
{
	uint8_t be[8];
	int i;

	for (i = 0; i < 8; i++)
		be[i] = v >> (56 - 8 * i);
	sha256_update(h, sizeof(be), be);
}

/*
 * The digest of a checkpoint, what its children record and its signature
 * signs: its cipher.img but the recipients (ce, opened) and its manifest,
 * the file, of manifest_len bytes.
 */
void crypt_checkpoint_digest(const CipherEntry *ce, const uint8_t *manifest, size_t manifest_len, uint8_t *digest)
{
	static const char label[] = CRYPT_LABEL_CHECKPOINT;
	struct sha256_ctx h;

	sha256_init(&h);
	sha256_update(&h, sizeof(label), (const uint8_t *)label); /* its 0x00 too */
	put_be64(&h, put_m(NULL, NULL, ce));
	put_m(hash_update, &h, ce);
	sha256_update(&h, CRYPT_HASH_LEN, ce->mac.data);
	put_be64(&h, manifest_len);
	sha256_update(&h, manifest_len, manifest);
	sha256_digest(&h, CRYPT_HASH_LEN, digest);
}

void crypt_ctx_free(struct crypt_ctx *ctx)
{
	if (!ctx)
		return;
	crypt_wipe(ctx, sizeof(*ctx));
	xfree(ctx);
}
