/*
 * Checkpoint keys: the random checkpoint key, its wrap for the recipient's
 * RSA key (RSA-OAEP with SHA-256 and MGF1-SHA-256, RFC 8017 7.1, built on
 * Nettle's RSA and GMP, since neither GnuTLS 3.7 nor Nettle 3.8 has it),
 * the MAC that binds cipher.img together, and HKDF-SHA256 for every key
 * derived from the checkpoint key.  See Documentation/encryption.txt.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/bignum.h>
#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/pss-mgf1.h>
#include <nettle/rsa.h>
#include <nettle/sha2.h>
#include <sodium/core.h>
#include <sodium/utils.h>

#include "log.h"
#include "magic.h"
#include "common/compiler.h"
#include "common/xmalloc.h"
#include "crypt.h"
#include "images/cipher.pb-c.h"

#undef LOG_PREFIX
#define LOG_PREFIX "crypt: "

#define HLEN SHA256_DIGEST_SIZE

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

/*
 * Big buffers (pages on their way to an image, pieces of raw images) are
 * kept for the next user of the same size: on a virtual machine the
 * first touch of each page of a new mapping costs a fault of several
 * microseconds, more than the cipher spends on the page.  Their users
 * wipe what plaintext they leave in them.
 */
static struct {
	void *buf;
	size_t len;
} spare_bufs[2];

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
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf != MAP_FAILED)
		return buf;
	pr_perror("Can't allocate a buffer of %zu bytes", len);
	return NULL;
}

void crypt_buf_put(void *buf, size_t len)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(spare_bufs); i++)
		if (!spare_bufs[i].buf) {
			spare_bufs[i].buf = buf;
			spare_bufs[i].len = len;
			return;
		}
	munmap(buf, len);
}

static int random_bytes(void *buf, size_t len)
{
	int ret = gnutls_rnd(GNUTLS_RND_KEY, buf, len);

	if (ret < 0)
		pr_err("Can't get random bytes: %s\n", gnutls_strerror(ret));
	return ret < 0 ? -1 : 0;
}

/*
 * RSA blinding: a failure is remembered in *failed, and the unwrap fails.
 * Nettle draws until the blinding factor is invertible, so what it gets
 * then must not be zeros: it would never return.
 */
static void nettle_random(void *failed, size_t len, uint8_t *dst)
{
	if (gnutls_rnd(GNUTLS_RND_NONCE, dst, len) < 0) {
		memset(dst, 0xff, len);
		*(bool *)failed = true;
	}
}

/* Read a PEM (or DER) file; d->data is gnutls_free()'d by the caller. */
static int load_file(const char *path, gnutls_datum_t *d)
{
	int ret = gnutls_load_file(path, d);

	if (ret < 0) {
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
		pr_err("%s: not an X.509 certificate\n", path);
		goto out;
	}
	alg = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	if (alg != GNUTLS_PK_RSA) {
		pr_err("%s: the certificate's key is %s, not RSA\n", path, gnutls_pk_algorithm_get_name(alg));
		goto out;
	}
	if (bits < CRYPT_MIN_RSA) {
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
	free_datum(&m, false);
	free_datum(&e, false);
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
		pr_err("%s: not an unencrypted private key\n", path);
		goto out;
	}
	alg = gnutls_x509_privkey_get_pk_algorithm(key);
	if (alg != GNUTLS_PK_RSA) {
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
		pr_err("%s: invalid RSA key\n", path);
		goto out;
	}
	ret = 0;
out:
	free_datum(&m, false);
	free_datum(&e, false);
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

static void mgf1_xor(const uint8_t *seed, size_t seed_len, uint8_t *dst, size_t len)
{
	uint8_t mask[len];
	struct sha256_ctx h;
	size_t i;

	sha256_init(&h);
	sha256_update(&h, seed_len, seed);
	pss_mgf1(&h, &nettle_sha256, len, mask);
	for (i = 0; i < len; i++)
		dst[i] ^= mask[i];
	crypt_wipe(mask, len);
}

static const uint8_t *empty_label_hash(void)
{
	static uint8_t lhash[HLEN];
	struct sha256_ctx h;

	sha256_init(&h);
	sha256_digest(&h, HLEN, lhash);
	return lhash;
}

/* RSAES-OAEP-ENCRYPT with SHA-256, MGF1-SHA-256 and an empty label. */
int crypt_oaep_encrypt(const struct rsa_public_key *pub, const uint8_t *msg, size_t msg_len, uint8_t *out)
{
	size_t k = pub->size, db_len = k - HLEN - 1;
	uint8_t em[k];
	int ret = -1;
	mpz_t x;

	if (k < 2 * HLEN + 2 || msg_len > k - 2 * HLEN - 2) {
		pr_err("A message of %zu bytes does not fit RSA-OAEP with a %zu-byte key\n", msg_len, k);
		return -1;
	}

	/* EM = 0x00 || maskedSeed || maskedDB, DB = lHash || PS || 0x01 || M */
	memset(em, 0, k);
	memcpy(em + 1 + HLEN, empty_label_hash(), HLEN);
	em[k - msg_len - 1] = 0x01;
	memcpy(em + k - msg_len, msg, msg_len);
	if (random_bytes(em + 1, HLEN))
		goto out;
	mgf1_xor(em + 1, HLEN, em + 1 + HLEN, db_len);
	mgf1_xor(em + 1 + HLEN, db_len, em + 1, HLEN);

	mpz_init(x);
	nettle_mpz_set_str_256_u(x, k, em);
	mpz_powm(x, x, pub->e, pub->n);
	nettle_mpz_get_str_256(k, out, x);
	mpz_clear(x);
	ret = 0;
out:
	crypt_wipe(em, k);
	return ret;
}

/*
 * RSAES-OAEP-DECRYPT.  *msg_len is the room in msg on entry and the length
 * of the message on return.  Every kind of bad padding takes the same path
 * and gives the same answer.
 */
int crypt_oaep_decrypt(const struct rsa_public_key *pub, const struct rsa_private_key *priv, const uint8_t *in,
		       size_t in_len, uint8_t *msg, size_t *msg_len)
{
	size_t k = pub->size, db_len = k - HLEN - 1, i, idx = 0;
	unsigned int bad, found = 0;
	bool no_random = false;
	uint8_t em[k], *db = em + 1 + HLEN;
	int ret = -1;
	mpz_t x;

	if (in_len != k || k < 2 * HLEN + 2)
		return -1;

	/* no private key operation at all without randomness for its blinding */
	nettle_random(&no_random, 1, em);
	mpz_init(x);
	nettle_mpz_set_str_256_u(x, in_len, in);
	if (no_random || mpz_cmp(x, pub->n) >= 0 || !rsa_compute_root_tr(pub, priv, &no_random, nettle_random, x, x) ||
	    no_random) {
		if (no_random)
			pr_err("No random bytes for RSA blinding\n");
		mpz_set_ui(x, 0);
		mpz_clear(x);
		return -1;
	}
	nettle_mpz_get_str_256(k, em, x);
	mpz_set_ui(x, 0);
	mpz_clear(x);

	mgf1_xor(db, db_len, em + 1, HLEN);
	mgf1_xor(em + 1, HLEN, db, db_len);

	bad = em[0] | !memeql_sec(db, empty_label_hash(), HLEN);
	for (i = HLEN; i < db_len; i++) {
		unsigned int one = !(db[i] ^ 0x01), zero = !db[i];
		unsigned int take = one & !found;

		idx = take ? i : idx;
		bad |= !found & !one & !zero;
		found |= one;
	}
	bad |= !found;
	if (!bad && db_len - idx - 1 <= *msg_len) {
		*msg_len = db_len - idx - 1;
		memcpy(msg, db + idx + 1, *msg_len);
		ret = 0;
	}
	crypt_wipe(em, k);
	return ret;
}

/* HKDF-SHA256 (RFC 5869) */
void crypt_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len, uint8_t *prk)
{
	struct hmac_sha256_ctx h;

	hmac_sha256_set_key(&h, salt_len, salt);
	hkdf_extract(&h, (nettle_hash_update_func *)hmac_sha256_update, (nettle_hash_digest_func *)hmac_sha256_digest,
		     SHA256_DIGEST_SIZE, ikm_len, ikm, prk);
	crypt_wipe(&h, sizeof(h));
}

/* HKDF-Expand with h, an HMAC keyed with the PRK (which it wipes) */
static void expand(struct hmac_sha256_ctx *h, const uint8_t *info, size_t info_len, uint8_t *out, size_t len)
{
	hkdf_expand(h, (nettle_hash_update_func *)hmac_sha256_update, (nettle_hash_digest_func *)hmac_sha256_digest,
		    SHA256_DIGEST_SIZE, info_len, info, len, out);
	crypt_wipe(h, sizeof(*h));
}

void crypt_hkdf_expand(const uint8_t *prk, const uint8_t *info, size_t info_len, uint8_t *out, size_t len)
{
	struct hmac_sha256_ctx h;

	hmac_sha256_set_key(&h, SHA256_DIGEST_SIZE, prk);
	expand(&h, info, info_len, out, len);
}

/* A key of the checkpoint: HKDF-Expand(PRK, label || 0x00 || data) */
void crypt_derive(const struct crypt_ctx *ctx, const char *label, const void *data, size_t data_len, uint8_t *out,
		  size_t len)
{
	struct hmac_sha256_ctx h = ctx->expand;
	size_t label_len = strlen(label);
	uint8_t info[label_len + 1 + data_len];

	memcpy(info, label, label_len);
	info[label_len] = 0;
	if (data_len)
		memcpy(info + label_len + 1, data, data_len);
	expand(&h, info, sizeof(info), out, len);
}

/* The keys of ctx, whose id is set, from the checkpoint key */
void crypt_ctx_key(struct crypt_ctx *ctx, const uint8_t *key)
{
	uint8_t prk[CRYPT_KEY_LEN];

	crypt_hkdf_extract(ctx->id, sizeof(ctx->id), key, CRYPT_KEY_LEN, prk);
	/* keyed once: a restored task derives its keys without the key set-up */
	hmac_sha256_set_key(&ctx->expand, sizeof(prk), prk);
	crypt_wipe(prk, sizeof(prk));
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

	crypt_derive(ctx, "criu-encrypt v1 cipher.img", NULL, 0, key, sizeof(key));
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
	if (random_bytes(key, sizeof(key)) || random_bytes(ctx->id, sizeof(ctx->id)))
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
		pr_err("%s: unsupported format version %u (this criu knows %d)\n", img, ce->format, CRYPT_FORMAT);
		return NULL;
	}
	if (!alg_is(img, "key wrap", ce->wrap, CRYPT_WRAP_ALG) ||
	    !alg_is(img, "stream", ce->stream, CRYPT_STREAM_ALG) ||
	    !alg_is(img, "page", ce->pages, CRYPT_PAGES_ALG))
		return NULL;
	if (ce->id.len != CRYPT_ID_LEN || ce->recipient.len != CRYPT_HASH_LEN || ce->mac.len != CRYPT_HASH_LEN ||
	    (ce->has_parent && ce->parent.len != CRYPT_HASH_LEN)) {
		pr_err("%s: malformed\n", img);
		return NULL;
	}

	rsa_public_key_init(&pub);
	rsa_private_key_init(&priv);
	if (load_key(key_path, &pub, &priv, kid))
		goto out;
	if (memcmp(kid, ce->recipient.data, CRYPT_HASH_LEN)) {
		pr_err("%s: the checkpoint is encrypted for another key than %s\n", img, key_path);
		goto out;
	}
	if (crypt_oaep_decrypt(&pub, &priv, ce->wrapped_key.data, ce->wrapped_key.len, key, &key_len) ||
	    key_len != CRYPT_KEY_LEN) {
		pr_err("%s: can't unwrap the checkpoint key with %s (damaged)\n", img, key_path);
		goto out;
	}

	ctx = xzalloc(sizeof(*ctx));
	if (!ctx)
		goto out;
	memcpy(ctx->id, ce->id.data, CRYPT_ID_LEN);
	crypt_ctx_key(ctx, key);
	header_mac(ctx, ce, mac);
	if (!memeql_sec(mac, ce->mac.data, CRYPT_HASH_LEN)) {
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
		pr_err("%s: not a cipher.img (bad magic)\n", img);
		return NULL;
	}
	memcpy(&size, buf + sizeof(magic), sizeof(size));
	if (size != len - sizeof(magic) - sizeof(size)) {
		pr_err("%s: malformed (an entry of %u bytes in %zu)\n", img, size, len);
		return NULL;
	}
	ce = cipher_entry__unpack(NULL, size, buf + sizeof(magic) + sizeof(size));
	if (!ce)
		pr_err("%s: malformed (not a cipher entry)\n", img);
	return ce;
}

/*
 * What a child checkpoint records of its parent: a digest of the parent's
 * cipher.img (its key and id) and manifest (its images).
 */
void crypt_parent_digest(const uint8_t *cipher, size_t cipher_len, const uint8_t *manifest, size_t manifest_len,
			 uint8_t *digest)
{
	static const char label[] = "criu-encrypt v1 parent";
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
