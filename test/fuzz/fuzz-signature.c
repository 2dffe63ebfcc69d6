/*
 * signature.img as read at restore: crypt_sign_verify() on the file's
 * bytes, for the digest the harness signed, without a CA and with the
 * test CA (test/pki: cacert.pem).  The harness signs that digest once
 * with the test key (key.pem, RSA-PSS: not malleable) through the
 * module's own signer, and the input is either a list of edits of that
 * good file (first byte even: xor a byte, cut, insert, splice input in)
 * or a whole file (first byte odd).  crypt-dir.c refuses a file over
 * CRYPT_CIPHER_MAX before it reads it, so the harness does too.
 *
 * Properties: no memory error, leak or UB; the good file verifies (with
 * and without the CA); a file that verifies carries the good file's
 * signature value, since no other value is a signature of the digest by
 * the test key or by any key the input could hold a certificate for.
 */
#include "cr_options.h"
#include "fuzz.h"
#include "images/cipher.pb-c.h"

static uint8_t digest[CRYPT_HASH_LEN];
static uint8_t *good;
static size_t good_len;
static uint8_t good_value[1024];
static size_t good_value_len;
static char ca[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char key[4096], cert[4096];
	const char *certs[1] = { cert };
	CheckpointSignature *cs;
	int i;

	fuzz_init();
	for (i = 0; i < CRYPT_HASH_LEN; i++)
		digest[i] = 0x5a ^ i;
	snprintf(key, sizeof(key), "%s", fuzz_pki("key.pem"));
	snprintf(cert, sizeof(cert), "%s", fuzz_pki("cert.pem"));
	snprintf(ca, sizeof(ca), "%s", fuzz_pki("cacert.pem"));
	opts.tls_key = key;
	if (crypt_signer_init(certs, 1) || crypt_sign(digest, &good, &good_len) || !good) {
		fprintf(stderr, "fuzz: can't sign with %s\n", key);
		abort();
	}
	crypt_signer_free();
	opts.tls_key = NULL;
	cs = checkpoint_signature__unpack(NULL, good_len - 12, good + 12);
	fuzz_assert(cs && cs->value.len <= sizeof(good_value));
	memcpy(good_value, cs->value.data, cs->value.len);
	good_value_len = cs->value.len;
	checkpoint_signature__free_unpacked(cs, NULL);
	fuzz_assert(!crypt_sign_verify(good, good_len, "signature.img", digest, NULL));
	fuzz_assert(!crypt_sign_verify(good, good_len, "signature.img", digest, ca));
	return 0;
}

/* Whether buf (a file that verified) carries the good signature value */
static bool good_signature(const uint8_t *buf, size_t len)
{
	CheckpointSignature *cs = checkpoint_signature__unpack(NULL, len - 12, buf + 12);
	bool same;

	fuzz_assert(cs);
	same = cs->value.len == good_value_len && !memcmp(cs->value.data, good_value, good_value_len);
	checkpoint_signature__free_unpacked(cs, NULL);
	return same;
}

/* The good file, edited as the input says, into buf; its length */
static size_t edit(struct fuzz_in *in, uint8_t *buf, size_t room)
{
	size_t len = good_len, pos, n, got;
	const uint8_t *p;

	memcpy(buf, good, len);
	while (in->len) {
		uint8_t op = in_u8(in);

		pos = len ? in_u16(in) % (len + 1) : 0;
		switch (op % 4) {
		case 0: /* xor a byte */
			if (pos < len)
				buf[pos] ^= in_u8(in) | 1;
			break;
		case 1: /* cut there */
			len = pos;
			break;
		case 2: /* insert a byte */
			if (len < room) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = in_u8(in);
				len++;
			}
			break;
		case 3: /* overwrite with the input's next bytes */
			n = in_u8(in);
			p = in_bytes(in, n, &got);
			if (pos + got > room)
				got = room - pos;
			memcpy(buf + pos, p, got);
			if (pos + got > len)
				len = pos + got;
			break;
		}
	}
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	static uint8_t buf[CRYPT_CIPHER_MAX];
	const uint8_t *file;
	size_t len;

	if (size && (data[0] & 1)) {
		file = data + 1;
		len = size - 1;
		if (len > CRYPT_CIPHER_MAX)
			return 0;
	} else {
		in_u8(&in);
		len = edit(&in, buf, sizeof(buf));
		file = buf;
	}
	if (!crypt_sign_verify(file, len, "signature.img", digest, NULL))
		fuzz_assert(good_signature(file, len));
	if (!crypt_sign_verify(file, len, "signature.img", digest, ca))
		fuzz_assert(good_signature(file, len));
	return 0;
}
