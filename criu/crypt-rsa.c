/*
 * The wrap "rsa-oaep-sha256" of the checkpoint key for an RSA recipient:
 * RSA-OAEP with SHA-256, MGF1-SHA-256 and an empty label (RFC 8017, 7.1),
 * built on Nettle's RSA and GMP, since neither GnuTLS 3.7 nor Nettle 3.8
 * has it; the keys come from GnuTLS.
 */
#include <string.h>

#include <gmp.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/bignum.h>
#include <nettle/pss-mgf1.h>
#include <nettle/rsa.h>
#include <nettle/sha2.h>

#include "log.h"
#include "common/xmalloc.h"
#include "crypt-private.h"
#include "images/cipher.pb-c.h"

#define HLEN SHA256_DIGEST_SIZE

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
	if (crypt_random(em + 1, HLEN))
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
	crypt_nettle_random(&no_random, 1, em);
	mpz_init(x);
	nettle_mpz_set_str_256_u(x, in_len, in);
	if (no_random || mpz_cmp(x, pub->n) >= 0 || !rsa_compute_root_tr(pub, priv, &no_random, crypt_nettle_random, x, x) ||
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

	bad = em[0] | !crypt_equal(db, empty_label_hash(), HLEN);
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

/* The RSA public key of a certificate (at path), of CRYPT_MIN_RSA bits or more */
static int cert_public_key(gnutls_x509_crt_t crt, const char *path, struct rsa_public_key *pub)
{
	gnutls_datum_t m = {}, e = {};
	unsigned int bits = 0;
	int ret = -1;

	gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	if (bits < CRYPT_MIN_RSA) {
		set_cr_errno(ENOKEY);
		pr_err("%s: the certificate's RSA key has %u bits, at least %d are needed\n", path, bits,
		       CRYPT_MIN_RSA);
		return -1;
	}
	if (gnutls_x509_crt_get_pk_rsa_raw(crt, &m, &e) < 0 || set_public_key(pub, &m, &e))
		pr_err("%s: can't read the certificate's RSA key\n", path);
	else
		ret = 0;
	free_datum(&m, false);
	free_datum(&e, false);
	return ret;
}

/* The checkpoint key wrapped for the RSA certificate crt (at path) into r */
int crypt_rsa_wrap(gnutls_x509_crt_t crt, const char *path, const uint8_t *key, CipherRecipient *r)
{
	struct rsa_public_key pub;
	int ret = -1;

	rsa_public_key_init(&pub);
	if (cert_public_key(crt, path, &pub))
		goto out;
	r->wrap = CRYPT_WRAP_RSA;
	r->wrapped_key.data = xmalloc(pub.size);
	if (!r->wrapped_key.data || crypt_oaep_encrypt(&pub, key, CRYPT_KEY_LEN, r->wrapped_key.data))
		goto out;
	r->wrapped_key.len = pub.size;
	ret = 0;
out:
	rsa_public_key_clear(&pub);
	return ret;
}

/* The private key as Nettle wants it */
static int private_key(gnutls_x509_privkey_t key, const char *path, struct rsa_public_key *pub,
		       struct rsa_private_key *priv)
{
	gnutls_datum_t m = {}, e = {}, dd = {}, p = {}, q = {}, u = {}, e1 = {}, e2 = {};
	int ret = -1;
	mpz_t t;

	if (gnutls_x509_privkey_export_rsa_raw2(key, &m, &e, &dd, &p, &q, &u, &e1, &e2) < 0) {
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
	free_datum(&m, false);
	free_datum(&e, false);
	free_datum(&dd, true);
	free_datum(&p, true);
	free_datum(&q, true);
	free_datum(&u, true);
	free_datum(&e1, true);
	free_datum(&e2, true);
	return ret;
}

/* The checkpoint key of recipient r (of cipher.img img) with the RSA key (at path) into key */
int crypt_rsa_unwrap(gnutls_x509_privkey_t k, const char *path, const CipherRecipient *r, uint8_t *key,
		     const char *img)
{
	struct rsa_private_key priv;
	struct rsa_public_key pub;
	size_t key_len = CRYPT_KEY_LEN;
	int ret = -1;

	rsa_public_key_init(&pub);
	rsa_private_key_init(&priv);
	if (private_key(k, path, &pub, &priv))
		goto out;
	if (r->has_ephemeral || crypt_oaep_decrypt(&pub, &priv, r->wrapped_key.data, r->wrapped_key.len, key, &key_len) ||
	    key_len != CRYPT_KEY_LEN) {
		set_cr_errno(EBADMSG);
		pr_err("%s: can't unwrap the checkpoint key with %s (damaged)\n", img, path);
		goto out;
	}
	ret = 0;
out:
	rsa_private_key_clear(&priv);
	rsa_public_key_clear(&pub);
	return ret;
}
