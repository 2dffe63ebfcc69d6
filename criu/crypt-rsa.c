/*
 * RSA-OAEP with SHA-256, MGF1-SHA-256 and an empty label (RFC 8017, 7.1),
 * the wrap of the checkpoint key for its recipient: built on Nettle's RSA
 * and GMP, since neither GnuTLS 3.7 nor Nettle 3.8 has it.
 */
#include <string.h>

#include <gmp.h>
#include <nettle/bignum.h>
#include <nettle/pss-mgf1.h>
#include <nettle/rsa.h>
#include <nettle/sha2.h>

#include "log.h"
#include "crypt-private.h"

#define HLEN SHA256_DIGEST_SIZE

/*
 * RSA blinding: a failure is remembered in *failed, and the unwrap fails.
 * Nettle draws until the blinding factor is invertible, so what it gets
 * then must not be zeros: it would never return.
 */
static void nettle_random(void *failed, size_t len, uint8_t *dst)
{
	if (crypt_random(dst, len)) {
		memset(dst, 0xff, len);
		*(bool *)failed = true;
	}
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
