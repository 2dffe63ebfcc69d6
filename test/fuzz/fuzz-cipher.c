/*
 * cipher.img as read at restore: the input is the whole file (magics,
 * entry size, protobuf), parsed by crypt_cipher_parse() and, when it
 * parses, opened by crypt_ctx_open() with each of the test keys key.pem
 * (RSA), ec-key.pem (P-256) and ec384-key.pem (P-384): the recipient
 * lookup, the RSA-OAEP or ECDH unwrap and the MAC.  crypt-image.c
 * refuses a file over CRYPT_CIPHER_MAX before it parses, so the harness
 * does too.
 *
 * Properties: no memory error, leak or UB; an entry that opens is one of
 * format 2: its version, algorithms and field sizes, 1 to 16 recipients
 * each with a key_id of 32 bytes, the first of the key's id with the
 * key's wrap and its sizes; its MAC is the one of section 4 (the framing
 * of M written here) under the key the module derived.
 */
#include <nettle/hmac.h>

#include "fuzz.h"
#include "images/cipher.pb-c.h"

#define NR_KEYS 3

static const char *const cert_files[NR_KEYS] = { "cert.pem", "ec-cert.pem", "ec384-cert.pem" };
static const char *const key_files[NR_KEYS] = { "key.pem", "ec-key.pem", "ec384-key.pem" };
static const char *const wraps[NR_KEYS] = { "rsa-oaep-sha256", "ecdh-p256-hkdf-sha256", "ecdh-p384-hkdf-sha256" };
static const size_t points[NR_KEYS] = { 0, 65, 97 };
static char key_paths[NR_KEYS][4096];
static uint8_t kids[NR_KEYS][CRYPT_HASH_LEN];
static unsigned int rsa_bytes; /* of the modulus of cert.pem */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned int bits = 0;
	gnutls_x509_crt_t crt;
	gnutls_datum_t d;
	int t;

	fuzz_init();
	if (gnutls_load_file(fuzz_pki(cert_files[0]), &d) < 0 || gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_x509_crt_get_pk_algorithm(crt, &bits) != GNUTLS_PK_RSA) {
		fprintf(stderr, "fuzz: %s is not an RSA certificate\n", fuzz_pki(cert_files[0]));
		abort();
	}
	rsa_bytes = (bits + 7) / 8;
	gnutls_free(d.data);
	gnutls_x509_crt_deinit(crt);
	for (t = 0; t < NR_KEYS; t++) {
		fuzz_cert_id(cert_files[t], kids[t]);
		snprintf(key_paths[t], sizeof(key_paths[t]), "%s", fuzz_pki(key_files[t]));
	}
	return 0;
}

static void put_field(struct hmac_sha256_ctx *h, const void *p, size_t len)
{
	uint8_t be[2] = { len >> 8, len };

	hmac_sha256_update(h, 2, be);
	hmac_sha256_update(h, len, p);
}

/* What an entry that opened with test key t must be */
static void check_opened(const CipherEntry *ce, const struct crypt_ctx *ctx, int t)
{
	uint8_t fmt[4] = { ce->format >> 24, ce->format >> 16, ce->format >> 8, ce->format }, key[32], mac[32];
	const CipherRecipient *r = NULL;
	struct hmac_sha256_ctx h;
	size_t i;

	fuzz_assert(ce->format == 2);
	fuzz_assert(!strcmp(ce->stream, CRYPT_STREAM_ALG) && !strcmp(ce->pages, CRYPT_PAGES_ALG));
	fuzz_assert(ce->id.len == CRYPT_ID_LEN && ce->mac.len == CRYPT_HASH_LEN);
	fuzz_assert(!ce->has_parent || ce->parent.len == CRYPT_HASH_LEN);
	fuzz_assert(ce->n_recipients >= 1 && ce->n_recipients <= 16);
	for (i = 0; i < ce->n_recipients; i++) {
		fuzz_assert(ce->recipients[i]->key_id.len == CRYPT_HASH_LEN);
		if (!r && !memcmp(ce->recipients[i]->key_id.data, kids[t], CRYPT_HASH_LEN))
			r = ce->recipients[i];
	}
	fuzz_assert(r && !strcmp(r->wrap, wraps[t]));
	if (t)
		fuzz_assert(r->has_ephemeral && r->ephemeral.len == points[t] && r->ephemeral.data[0] == 0x04 &&
			    r->wrapped_key.len == CRYPT_KEY_LEN + 16);
	else
		fuzz_assert(!r->has_ephemeral && r->wrapped_key.len == rsa_bytes);
	fuzz_assert(!memcmp(ctx->id, ce->id.data, CRYPT_ID_LEN));
	/* mac = HMAC(derive("criu-encrypt v2 cipher.img"), F(BE_4(format)) || F(id) || F(stream) || F(pages) [|| F(parent)]) */
	crypt_derive(ctx, "criu-encrypt v2 cipher.img", NULL, 0, key, sizeof(key));
	hmac_sha256_set_key(&h, sizeof(key), key);
	put_field(&h, fmt, sizeof(fmt));
	put_field(&h, ce->id.data, ce->id.len);
	put_field(&h, ce->stream, strlen(ce->stream));
	put_field(&h, ce->pages, strlen(ce->pages));
	if (ce->has_parent)
		put_field(&h, ce->parent.data, ce->parent.len);
	hmac_sha256_digest(&h, sizeof(mac), mac);
	fuzz_assert(!memcmp(mac, ce->mac.data, sizeof(mac)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crypt_ctx *ctx;
	CipherEntry *ce;
	int t;

	if (size > CRYPT_CIPHER_MAX)
		return -1;
	ce = crypt_cipher_parse(data, size, "cipher.img");
	if (!ce)
		return 0;
	for (t = 0; t < NR_KEYS; t++) {
		ctx = crypt_ctx_open(ce, key_paths[t], "cipher.img");
		if (ctx) {
			check_opened(ce, ctx, t);
			crypt_ctx_free(ctx);
		}
	}
	cipher_entry__free_unpacked(ce, NULL);
	return 0;
}
