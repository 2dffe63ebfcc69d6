/*
 * The wraps "ecdh-p256-hkdf-sha256" and "ecdh-p384-hkdf-sha256" of the
 * checkpoint key for an EC recipient: an ephemeral key pair for each
 * recipient of each checkpoint, ECDH with the recipient's key, HKDF and
 * ChaCha20-Poly1305 (Documentation/encryption-format.txt, section 4), on
 * Nettle's curves; the keys come from GnuTLS.
 */
#include <string.h>

#include <gmp.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/bignum.h>
#include <nettle/chacha-poly1305.h>
#include <nettle/ecc-curve.h>
#include <nettle/ecc.h>

#include "log.h"
#include "common/xmalloc.h"
#include "crypt-private.h"
#include "images/cipher.pb-c.h"

#define ECDH_MAX_COORD 48 /* P-384 */
#define ECDH_WRAPPED   (CRYPT_KEY_LEN + CRYPT_TAG_LEN)

struct curve {
	gnutls_ecc_curve_t id;
	const char *wrap;
	const struct ecc_curve *(*get)(void);
	size_t len; /* of a coordinate */
};

static const struct curve curves[] = {
	{ GNUTLS_ECC_CURVE_SECP256R1, CRYPT_WRAP_P256, nettle_get_secp_256r1, 32 },
	{ GNUTLS_ECC_CURVE_SECP384R1, CRYPT_WRAP_P384, nettle_get_secp_384r1, 48 },
};

static const struct curve *find_curve(gnutls_ecc_curve_t id)
{
	unsigned int i;

	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (curves[i].id == id)
			return &curves[i];
	return NULL;
}

/* An uncompressed point: 0x04 || X || Y */
static void put_point(const struct curve *c, const struct ecc_point *p, uint8_t *out)
{
	mpz_t x, y;

	mpz_init(x);
	mpz_init(y);
	ecc_point_get(p, x, y);
	out[0] = 0x04;
	nettle_mpz_get_str_256(c->len, out + 1, x);
	nettle_mpz_get_str_256(c->len, out + 1 + c->len, y);
	mpz_clear(x);
	mpz_clear(y);
}

/* A point of the curve from its coordinates (big-endian) */
static int set_point(struct ecc_point *p, const uint8_t *x, size_t xlen, const uint8_t *y, size_t ylen)
{
	mpz_t mx, my;
	int ok;

	mpz_init(mx);
	mpz_init(my);
	nettle_mpz_set_str_256_u(mx, xlen, x);
	nettle_mpz_set_str_256_u(my, ylen, y);
	ok = ecc_point_set(p, mx, my);
	mpz_clear(mx);
	mpz_clear(my);
	return ok ? 0 : -1;
}

/*
 * The key that wraps: the X coordinate Z of secret * point, then
 * KEK = HKDF(salt = id, IKM = Z, info = label || 0x00 || ephemeral || key_id)
 */
static void wrap_key(const struct curve *c, const struct ecc_scalar *secret, const struct ecc_point *point,
		     const uint8_t *id, const uint8_t *eph, const uint8_t *kid, uint8_t *kek)
{
	static const char label[] = CRYPT_LABEL_ECDH;
	uint8_t z[ECDH_MAX_COORD], prk[CRYPT_HASH_LEN], info[sizeof(label) + 1 + 2 * ECDH_MAX_COORD + CRYPT_HASH_LEN];
	size_t eph_len = 1 + 2 * c->len;
	struct ecc_point s;
	mpz_t x, y;

	ecc_point_init(&s, c->get());
	ecc_point_mul(&s, secret, point);
	mpz_init(x);
	mpz_init(y);
	ecc_point_get(&s, x, y);
	nettle_mpz_get_str_256(c->len, z, x);
	mpz_set_ui(x, 0);
	mpz_clear(x);
	mpz_clear(y);
	ecc_point_clear(&s);

	memcpy(info, label, sizeof(label)); /* its 0x00 too */
	memcpy(info + sizeof(label), eph, eph_len);
	memcpy(info + sizeof(label) + eph_len, kid, CRYPT_HASH_LEN);
	crypt_hkdf_extract(id, CRYPT_ID_LEN, z, c->len, prk);
	crypt_hkdf_expand(prk, info, sizeof(label) + eph_len + CRYPT_HASH_LEN, kek, CRYPT_KEY_LEN);
	crypt_wipe(z, sizeof(z));
	crypt_wipe(prk, sizeof(prk));
}

static const uint8_t zero_nonce[CHACHA_POLY1305_NONCE_SIZE];

/* The checkpoint key (of the checkpoint id) wrapped for the EC certificate crt (at path) into r */
int crypt_ecdh_wrap(gnutls_x509_crt_t crt, const char *path, const uint8_t *id, const uint8_t *key,
		    CipherRecipient *r)
{
	gnutls_datum_t x = {}, y = {};
	gnutls_ecc_curve_t cid = 0;
	struct chacha_poly1305_ctx aead;
	const struct curve *c = NULL;
	struct ecc_point q, e_pub;
	struct ecc_scalar e;
	uint8_t kek[CRYPT_KEY_LEN];
	bool failed = false;
	int ret = -1;

	if (gnutls_x509_crt_get_pk_ecc_raw(crt, &cid, &x, &y) < 0 || !(c = find_curve(cid))) {
		set_cr_errno(ENOKEY);
		pr_err("%s: unsupported key type (an EC key on %s: P-256 and P-384 are supported)\n", path,
		       gnutls_ecc_curve_get_name(cid) ?: "an unknown curve");
		gnutls_free(x.data);
		gnutls_free(y.data);
		return -1;
	}
	ecc_point_init(&q, c->get());
	ecc_point_init(&e_pub, c->get());
	ecc_scalar_init(&e, c->get());
	if (set_point(&q, x.data, x.size, y.data, y.size)) {
		pr_err("%s: the certificate's EC key is not a point of its curve\n", path);
		goto out;
	}
	ecc_scalar_random(&e, &failed, crypt_nettle_random);
	if (failed)
		goto out;
	ecc_point_mul_g(&e_pub, &e);

	r->wrap = (char *)c->wrap;
	r->ephemeral.data = xmalloc(1 + 2 * c->len);
	r->wrapped_key.data = xmalloc(ECDH_WRAPPED);
	if (!r->ephemeral.data || !r->wrapped_key.data)
		goto out;
	put_point(c, &e_pub, r->ephemeral.data);
	r->ephemeral.len = 1 + 2 * c->len;
	r->has_ephemeral = true;
	wrap_key(c, &e, &q, id, r->ephemeral.data, r->key_id.data, kek);

	chacha_poly1305_set_key(&aead, kek);
	chacha_poly1305_set_nonce(&aead, zero_nonce);
	chacha_poly1305_encrypt(&aead, CRYPT_KEY_LEN, r->wrapped_key.data, key);
	chacha_poly1305_digest(&aead, CRYPT_TAG_LEN, r->wrapped_key.data + CRYPT_KEY_LEN);
	r->wrapped_key.len = ECDH_WRAPPED;
	crypt_wipe(&aead, sizeof(aead));
	crypt_wipe(kek, sizeof(kek));
	ret = 0;
out:
	ecc_scalar_clear(&e);
	ecc_point_clear(&e_pub);
	ecc_point_clear(&q);
	gnutls_free(x.data);
	gnutls_free(y.data);
	return ret;
}

/* The checkpoint key of recipient r (of cipher.img img) with the EC key k (at path) into key */
int crypt_ecdh_unwrap(gnutls_x509_privkey_t k, const char *path, const uint8_t *id, const CipherRecipient *r,
		      uint8_t *key, const char *img)
{
	gnutls_datum_t x = {}, y = {}, d = {};
	gnutls_ecc_curve_t cid = 0;
	struct chacha_poly1305_ctx aead;
	const struct curve *c = NULL;
	uint8_t kek[CRYPT_KEY_LEN], tag[CRYPT_TAG_LEN];
	struct ecc_scalar s;
	struct ecc_point e_pub;
	int ret = -1;
	mpz_t z;

	if (gnutls_x509_privkey_export_ecc_raw(k, &cid, &x, &y, &d) < 0 || !(c = find_curve(cid))) {
		set_cr_errno(ENOKEY);
		pr_err("%s: unsupported key type (an EC key on %s: P-256 and P-384 are supported)\n", path,
		       gnutls_ecc_curve_get_name(cid) ?: "an unknown curve");
		goto free;
	}
	if (strcmp(r->wrap, c->wrap) || !r->has_ephemeral || r->ephemeral.len != 1 + 2 * c->len ||
	    r->ephemeral.data[0] != 0x04 || r->wrapped_key.len != ECDH_WRAPPED) {
		set_cr_errno(EBADMSG);
		pr_err("%s: malformed recipient for %s (a %s key)\n", img, path, c->wrap);
		goto free;
	}
	ecc_point_init(&e_pub, c->get());
	ecc_scalar_init(&s, c->get());
	mpz_init(z);
	nettle_mpz_set_str_256_u(z, d.size, d.data);
	if (!ecc_scalar_set(&s, z)) {
		set_cr_errno(ENOKEY);
		pr_err("%s: an invalid EC private key\n", path);
		goto out;
	}
	if (set_point(&e_pub, r->ephemeral.data + 1, c->len, r->ephemeral.data + 1 + c->len, c->len)) {
		set_cr_errno(EBADMSG);
		pr_err("%s: the ephemeral key for %s is not a point of its curve (damaged)\n", img, path);
		goto out;
	}
	wrap_key(c, &s, &e_pub, id, r->ephemeral.data, r->key_id.data, kek);
	chacha_poly1305_set_key(&aead, kek);
	chacha_poly1305_set_nonce(&aead, zero_nonce);
	chacha_poly1305_decrypt(&aead, CRYPT_KEY_LEN, key, r->wrapped_key.data);
	chacha_poly1305_digest(&aead, CRYPT_TAG_LEN, tag);
	if (!crypt_equal(tag, r->wrapped_key.data + CRYPT_KEY_LEN, CRYPT_TAG_LEN)) {
		crypt_wipe(key, CRYPT_KEY_LEN);
		set_cr_errno(EBADMSG);
		pr_err("%s: can't unwrap the checkpoint key with %s (damaged)\n", img, path);
		goto out;
	}
	ret = 0;
out:
	crypt_wipe(&aead, sizeof(aead));
	crypt_wipe(kek, sizeof(kek));
	mpz_set_ui(z, 0);
	mpz_clear(z);
	ecc_scalar_clear(&s);
	ecc_point_clear(&e_pub);
free:
	gnutls_free(x.data);
	gnutls_free(y.data);
	if (d.data)
		crypt_wipe(d.data, d.size);
	gnutls_free(d.data);
	return ret;
}
