/*
 * cipher.img: the recipient's certificate and private key (GnuTLS), the
 * random checkpoint key wrapped for it (crypt-rsa.c), the MAC that binds
 * the entry together, and the digest a child checkpoint records of its
 * parent.  See Documentation/encryption-format.txt.
 */
#include <string.h>

#include <gmp.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/bignum.h>
#include <nettle/hmac.h>
#include <nettle/rsa.h>
#include <nettle/sha2.h>

#include "log.h"
#include "magic.h"
#include "common/xmalloc.h"
#include "crypt-private.h"
#include "images/cipher.pb-c.h"

/* Read a PEM (or DER) file; d->data is gnutls_free()'d by the caller. */
static int load_file(const char *path, gnutls_datum_t *d)
{
	int ret = gnutls_load_file(path, d);

	if (ret < 0) {
		set_cr_errno(ENOKEY);
		pr_err("%s: can't read: %s\n", path, gnutls_strerror(ret));
		return -1;
	}
	return 0;
}

static void free_datum(gnutls_datum_t *d, bool secret)
{
	if (d->data && secret)
		crypt_wipe(d->data, d->size);
	gnutls_free(d->data);
	d->data = NULL;
}

/* the modulus and the public exponent */
static void free_public(gnutls_datum_t *m, gnutls_datum_t *e)
{
	free_datum(m, false);
	free_datum(e, false);
}

static int set_public_key(struct rsa_public_key *pub, const gnutls_datum_t *m, const gnutls_datum_t *e)
{
	nettle_mpz_set_str_256_u(pub->n, m->size, m->data);
	nettle_mpz_set_str_256_u(pub->e, e->size, e->data);
	return rsa_public_key_prepare(pub) ? 0 : -1;
}

/* The recipient's public key and its id (SHA-256 of its SubjectPublicKeyInfo). */
static int load_cert(const char *path, struct rsa_public_key *pub, uint8_t *kid)
{
	gnutls_datum_t d = {}, m = {}, e = {};
	size_t kid_len = CRYPT_HASH_LEN;
	gnutls_x509_crt_t crt;
	unsigned int bits = 0;
	int ret = -1, alg;

	if (load_file(path, &d))
		return -1;
	if (gnutls_x509_crt_init(&crt) < 0) {
		free_datum(&d, false);
		return -1;
	}
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0 &&
	    gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0) {
		set_cr_errno(ENOKEY);
		pr_err("%s: not an X.509 certificate\n", path);
		goto out;
	}
	alg = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	if (alg != GNUTLS_PK_RSA) {
		set_cr_errno(ENOKEY);
		pr_err("%s: the certificate's key is %s, not RSA\n", path, gnutls_pk_algorithm_get_name(alg));
		goto out;
	}
	if (bits < CRYPT_MIN_RSA) {
		set_cr_errno(ENOKEY);
		pr_err("%s: the certificate's RSA key has %u bits, at least %d are needed\n", path, bits,
		       CRYPT_MIN_RSA);
		goto out;
	}
	if (gnutls_x509_crt_get_pk_rsa_raw(crt, &m, &e) < 0 ||
	    gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, kid, &kid_len) < 0 || kid_len != CRYPT_HASH_LEN) {
		pr_err("%s: can't read the certificate's RSA key\n", path);
		goto out;
	}
	if (pub && set_public_key(pub, &m, &e)) {
		pr_err("%s: invalid RSA key\n", path);
		goto out;
	}
	ret = 0;
out:
	free_public(&m, &e);
	free_datum(&d, false);
	gnutls_x509_crt_deinit(crt);
	return ret;
}

/* The recipient's private key, as Nettle wants it, and its id. */
static int load_key(const char *path, struct rsa_public_key *pub, struct rsa_private_key *priv, uint8_t *kid)
{
	gnutls_datum_t d = {}, m = {}, e = {}, dd = {}, p = {}, q = {}, u = {}, e1 = {}, e2 = {};
	size_t kid_len = CRYPT_HASH_LEN;
	gnutls_x509_privkey_t key;
	int ret = -1, alg;
	mpz_t t;

	if (load_file(path, &d))
		return -1;
	if (gnutls_x509_privkey_init(&key) < 0) {
		free_datum(&d, true);
		return -1;
	}
	if (gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN) < 0 &&
	    gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN) < 0) {
		set_cr_errno(ENOKEY);
		pr_err("%s: not an unencrypted private key\n", path);
		goto out;
	}
	alg = gnutls_x509_privkey_get_pk_algorithm(key);
	if (alg != GNUTLS_PK_RSA) {
		set_cr_errno(ENOKEY);
		pr_err("%s: the private key is %s, not RSA\n", path, gnutls_pk_algorithm_get_name(alg));
		goto out;
	}
	if (gnutls_x509_privkey_export_rsa_raw2(key, &m, &e, &dd, &p, &q, &u, &e1, &e2) < 0 ||
	    gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, kid, &kid_len) < 0 ||
	    kid_len != CRYPT_HASH_LEN) {
		pr_err("%s: can't read the RSA key\n", path);
		goto out;
	}

	nettle_mpz_set_str_256_u(priv->p, p.size, p.data);
	nettle_mpz_set_str_256_u(priv->q, q.size, q.data);
	/* a = d mod (p-1), b = d mod (q-1), c = q^-1 mod p: computed, not trusted */
	mpz_init(t);
	nettle_mpz_set_str_256_u(t, dd.size, dd.data);
	mpz_sub_ui(priv->a, priv->p, 1);
	mpz_mod(priv->a, t, priv->a);
	mpz_sub_ui(priv->b, priv->q, 1);
	mpz_mod(priv->b, t, priv->b);
	mpz_set_ui(t, 0);
	mpz_clear(t);
	if (!mpz_invert(priv->c, priv->q, priv->p) || set_public_key(pub, &m, &e) ||
	    !rsa_private_key_prepare(priv) || pub->size != priv->size) {
		pr_err("%s: an invalid RSA private key\n", path);
		goto out;
	}
	ret = 0;
out:
	free_public(&m, &e);
	free_datum(&dd, true);
	free_datum(&p, true);
	free_datum(&q, true);
	free_datum(&u, true);
	free_datum(&e1, true);
	free_datum(&e2, true);
	free_datum(&d, true);
	gnutls_x509_privkey_deinit(key);
	return ret;
}

static void mac_field(struct hmac_sha256_ctx *h, const void *data, size_t len)
{
	uint8_t be[2] = { len >> 8, len & 0xff };

	hmac_sha256_update(h, 2, be);
	hmac_sha256_update(h, len, data);
}

/* HMAC-SHA256 under the "cipher.img" key over every other field of cipher.img */
static void header_mac(const struct crypt_ctx *ctx, const CipherEntry *ce, uint8_t *mac)
{
	uint8_t key[CRYPT_KEY_LEN], fmt[4] = { ce->format >> 24, ce->format >> 16, ce->format >> 8, ce->format };
	struct hmac_sha256_ctx h;

	crypt_derive(ctx, CRYPT_LABEL_CIPHER, NULL, 0, key, sizeof(key));
	hmac_sha256_set_key(&h, sizeof(key), key);
	mac_field(&h, fmt, sizeof(fmt));
	mac_field(&h, ce->id.data, ce->id.len);
	mac_field(&h, ce->wrap, strlen(ce->wrap));
	mac_field(&h, ce->stream, strlen(ce->stream));
	mac_field(&h, ce->pages, strlen(ce->pages));
	mac_field(&h, ce->recipient.data, ce->recipient.len);
	mac_field(&h, ce->wrapped_key.data, ce->wrapped_key.len);
	if (ce->has_parent)
		mac_field(&h, ce->parent.data, ce->parent.len);
	hmac_sha256_digest(&h, CRYPT_HASH_LEN, mac);
	crypt_wipe(&h, sizeof(h));
	crypt_wipe(key, sizeof(key));
}

/*
 * A new checkpoint key for the recipient of cert_path.  Fills ce (its
 * byte fields are xmalloc()'d; free them with crypt_entry_free()).
 */
struct crypt_ctx *crypt_ctx_new(const char *cert_path, const uint8_t *parent, CipherEntry *ce)
{
	struct crypt_ctx *ctx = NULL;
	uint8_t key[CRYPT_KEY_LEN];
	struct rsa_public_key pub;

	rsa_public_key_init(&pub);
	cipher_entry__init(ce);
	ce->recipient.data = xmalloc(CRYPT_HASH_LEN);
	if (!ce->recipient.data || load_cert(cert_path, &pub, ce->recipient.data))
		goto err;
	ce->recipient.len = CRYPT_HASH_LEN;

	ctx = xzalloc(sizeof(*ctx));
	ce->wrapped_key.data = xmalloc(pub.size);
	ce->id.data = xmalloc(CRYPT_ID_LEN);
	ce->mac.data = xmalloc(CRYPT_HASH_LEN);
	if (!ctx || !ce->wrapped_key.data || !ce->id.data || !ce->mac.data)
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
	if (crypt_oaep_encrypt(&pub, key, sizeof(key), ce->wrapped_key.data))
		goto err;
	ce->wrapped_key.len = pub.size;
	crypt_ctx_key(ctx, key);
	crypt_wipe(key, sizeof(key));

	ce->format = CRYPT_FORMAT;
	memcpy(ce->id.data, ctx->id, CRYPT_ID_LEN);
	ce->id.len = CRYPT_ID_LEN;
	ce->wrap = CRYPT_WRAP_ALG;
	ce->stream = CRYPT_STREAM_ALG;
	ce->pages = CRYPT_PAGES_ALG;
	header_mac(ctx, ce, ce->mac.data);
	ce->mac.len = CRYPT_HASH_LEN;
	rsa_public_key_clear(&pub);
	return ctx;
err:
	crypt_wipe(key, sizeof(key));
	rsa_public_key_clear(&pub);
	crypt_ctx_free(ctx);
	crypt_entry_free(ce);
	return NULL;
}

void crypt_entry_free(CipherEntry *ce)
{
	xfree(ce->recipient.data);
	xfree(ce->wrapped_key.data);
	xfree(ce->id.data);
	xfree(ce->mac.data);
	xfree(ce->parent.data);
	ce->recipient.data = ce->wrapped_key.data = ce->id.data = ce->mac.data = ce->parent.data = NULL;
}

static bool alg_is(const char *img, const char *what, const char *have, const char *want)
{
	if (have && !strcmp(have, want))
		return true;
	set_cr_errno(EBADMSG);
	pr_err("%s: unsupported %s algorithm '%s' (this criu knows '%s')\n", img, what, have ?: "", want);
	return false;
}

/* The keys of an existing checkpoint, whose cipher.img (named img) is ce. */
struct crypt_ctx *crypt_ctx_open(const CipherEntry *ce, const char *key_path, const char *img)
{
	uint8_t key[CRYPT_KEY_LEN], kid[CRYPT_HASH_LEN], mac[CRYPT_HASH_LEN];
	struct rsa_private_key priv;
	struct rsa_public_key pub;
	struct crypt_ctx *ctx = NULL;
	size_t key_len = sizeof(key);

	if (ce->format != CRYPT_FORMAT) {
		set_cr_errno(EBADMSG);
		pr_err("%s: unsupported format version %u (this criu knows %d)\n", img, ce->format, CRYPT_FORMAT);
		return NULL;
	}
	if (!alg_is(img, "key wrap", ce->wrap, CRYPT_WRAP_ALG) ||
	    !alg_is(img, "stream", ce->stream, CRYPT_STREAM_ALG) ||
	    !alg_is(img, "page", ce->pages, CRYPT_PAGES_ALG))
		return NULL;
	if (ce->id.len != CRYPT_ID_LEN || ce->recipient.len != CRYPT_HASH_LEN || ce->mac.len != CRYPT_HASH_LEN ||
	    (ce->has_parent && ce->parent.len != CRYPT_HASH_LEN)) {
		set_cr_errno(EBADMSG);
		pr_err("%s: malformed\n", img);
		return NULL;
	}

	rsa_public_key_init(&pub);
	rsa_private_key_init(&priv);
	if (load_key(key_path, &pub, &priv, kid))
		goto out;
	if (memcmp(kid, ce->recipient.data, CRYPT_HASH_LEN)) {
		set_cr_errno(EKEYREJECTED);
		pr_err("%s: the checkpoint is encrypted for another key than %s\n", img, key_path);
		goto out;
	}
	if (crypt_oaep_decrypt(&pub, &priv, ce->wrapped_key.data, ce->wrapped_key.len, key, &key_len) ||
	    key_len != CRYPT_KEY_LEN) {
		set_cr_errno(EBADMSG);
		pr_err("%s: can't unwrap the checkpoint key with %s (damaged)\n", img, key_path);
		goto out;
	}

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
	rsa_private_key_clear(&priv);
	rsa_public_key_clear(&pub);
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

/*
 * What a child checkpoint records of its parent: a digest of the parent's
 * cipher.img (its key and id) and manifest (its images).
 */
void crypt_parent_digest(const uint8_t *cipher, size_t cipher_len, const uint8_t *manifest, size_t manifest_len,
			 uint8_t *digest)
{
	static const char label[] = CRYPT_LABEL_PARENT;
	struct sha256_ctx h;
	uint8_t be[8];
	int i;

	sha256_init(&h);
	sha256_update(&h, sizeof(label), (const uint8_t *)label); /* its 0x00 too */
	for (i = 0; i < 8; i++)
		be[i] = (uint64_t)cipher_len >> (56 - 8 * i);
	sha256_update(&h, sizeof(be), be);
	sha256_update(&h, cipher_len, cipher);
	for (i = 0; i < 8; i++)
		be[i] = (uint64_t)manifest_len >> (56 - 8 * i);
	sha256_update(&h, sizeof(be), be);
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
