/*
 * The key schedule: every key of a checkpoint is derived from its random
 * checkpoint key K and its public id with HKDF-SHA256 (RFC 5869):
 *
 *   PRK = HKDF-Extract(salt = id, K)
 *   key = HKDF-Expand(PRK, label || 0x00 || context, length)
 *
 * the labels and contexts in crypt-private.h and the format's spec.
 */
#include <string.h>

#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include "crypt-private.h"

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

/* A key of one image: the context is a nonce (or salt) and the image's name */
void crypt_derive_named(const struct crypt_ctx *ctx, const char *label, const uint8_t *nonce, const char *name,
			uint8_t *out, size_t len)
{
	size_t nlen = strlen(name);
	uint8_t data[CRYPT_NONCE_LEN + nlen];

	memcpy(data, nonce, CRYPT_NONCE_LEN);
	memcpy(data + CRYPT_NONCE_LEN, name, nlen);
	crypt_derive(ctx, label, data, sizeof(data), out, len);
}
