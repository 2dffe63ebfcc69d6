/*
 * cipher.img as read at restore: the input is the whole file (magics,
 * entry size, protobuf), parsed by crypt_cipher_parse() and, when it
 * parses, opened by crypt_ctx_open() with the test key: the recipient
 * check, the RSA-OAEP unwrap and the MAC.  crypt-image.c refuses a file
 * over CRYPT_CIPHER_MAX before it parses, so the harness does too.
 *
 * Properties: no memory error, leak or UB; an entry that opens is one of
 * the format (version, algorithms, field sizes).
 */
#include "fuzz.h"
#include "images/cipher.pb-c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crypt_ctx *ctx;
	CipherEntry *ce;

	if (size > CRYPT_CIPHER_MAX)
		return -1;
	ce = crypt_cipher_parse(data, size, "cipher.img");
	if (!ce)
		return 0;
	ctx = crypt_ctx_open(ce, fuzz_pki("key.pem"), "cipher.img");
	if (ctx) {
		fuzz_assert(ce->format == CRYPT_FORMAT);
		fuzz_assert(!strcmp(ce->wrap, CRYPT_WRAP_ALG) && !strcmp(ce->stream, CRYPT_STREAM_ALG) &&
			    !strcmp(ce->pages, CRYPT_PAGES_ALG));
		fuzz_assert(ce->id.len == CRYPT_ID_LEN && ce->recipient.len == CRYPT_HASH_LEN &&
			    ce->mac.len == CRYPT_HASH_LEN);
		fuzz_assert(!ce->has_parent || ce->parent.len == CRYPT_HASH_LEN);
		fuzz_assert(!memcmp(ctx->id, ce->id.data, CRYPT_ID_LEN));
		crypt_ctx_free(ctx);
	}
	cipher_entry__free_unpacked(ce, NULL);
	return 0;
}
