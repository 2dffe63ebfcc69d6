/*
 * The key unwrap and the MAC of cipher.img, from a real entry: at start
 * the harness makes one with crypt_ctx_new() for the test certificate, as
 * a dump does (the checkpoint key is caught on its way out of gnutls_rnd()),
 * and the input is a list of changes to its fields:
 *
 *   op 0        format := u32
 *   op 1, 5, 8  id, recipient, mac := bytes
 *   op 2, 3, 4  wrap, stream, pages := a string (or NULL)
 *   op 6, 7     wrapped_key := bytes; flip one byte of it
 *   op 9, 10    parent := bytes; no parent
 *   op 11       wrapped_key := RSA(EM), EM an OAEP encoding the input shapes:
 *               lHash, PS, the separator, the message M (the new checkpoint
 *               key when it is a valid encoding of 32 bytes)
 *   op 12       wrapped_key := RSA(EM), EM raw bytes of the input
 *   op 13       mac := the right MAC of the fields as they are, under the key
 *               wrapped last (what a forger with the key would write)
 *
 * The entry is packed into a cipher.img (magics, size, entry), parsed with
 * crypt_cipher_parse() and opened with crypt_ctx_open() and the test key.
 * Properties: it opens exactly when the harness's own decoding of the
 * format says it must (right version, algorithms, sizes and recipient, a
 * valid OAEP encoding of a 32-byte key, the right MAC), and then gives the
 * keys of that checkpoint key and id.
 */
#include <dlfcn.h>

#include <gmp.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/bignum.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include "magic.h"
#include "fuzz.h"
#include "images/cipher.pb-c.h"

#define MAX_FIELD 600

/* The checkpoint key crypt_ctx_new() draws, caught here */
static uint8_t *catch_key;

int gnutls_rnd(gnutls_rnd_level_t level, void *data, size_t len)
{
	static int (*real)(gnutls_rnd_level_t, void *, size_t);
	int ret;

	if (!real)
		real = dlsym(RTLD_NEXT, "gnutls_rnd");
	ret = real(level, data, len);
	if (!ret && catch_key && level == GNUTLS_RND_KEY && len == CRYPT_KEY_LEN) {
		memcpy(catch_key, data, len);
		catch_key = NULL;
	}
	return ret;
}

static CipherEntry real_ce;
static uint8_t real_key[CRYPT_KEY_LEN];
static mpz_t n, e;
static size_t k; /* bytes of the modulus */

/* The recipient's public key, read from the certificate by the harness itself */
static void load_pub(const char *path)
{
	gnutls_datum_t d, m, ex;
	gnutls_x509_crt_t crt;

	if (gnutls_load_file(path, &d) < 0 || gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0 || gnutls_x509_crt_get_pk_rsa_raw(crt, &m, &ex) < 0) {
		fprintf(stderr, "fuzz: can't read the RSA key of %s\n", path);
		abort();
	}
	mpz_init(n);
	mpz_init(e);
	nettle_mpz_set_str_256_u(n, m.size, m.data);
	nettle_mpz_set_str_256_u(e, ex.size, ex.data);
	k = (mpz_sizeinbase(n, 2) + 7) / 8;
	gnutls_free(m.data);
	gnutls_free(ex.data);
	gnutls_free(d.data);
	gnutls_x509_crt_deinit(crt);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct crypt_ctx *ctx, ref = {};
	uint8_t a[32], b[32];

	fuzz_init();
	load_pub(fuzz_pki("cert.pem"));
	catch_key = real_key;
	ctx = crypt_ctx_new(fuzz_pki("cert.pem"), NULL, &real_ce);
	if (!ctx || catch_key) {
		fprintf(stderr, "fuzz: can't make a cipher.img entry for %s\n", fuzz_pki("cert.pem"));
		abort();
	}
	/* the caught key is the checkpoint key */
	memcpy(ref.id, ctx->id, CRYPT_ID_LEN);
	crypt_ctx_key(&ref, real_key);
	crypt_derive(ctx, "fuzz", NULL, 0, a, sizeof(a));
	crypt_derive(&ref, "fuzz", NULL, 0, b, sizeof(b));
	fuzz_assert(!memcmp(a, b, sizeof(a)) && real_ce.wrapped_key.len == k);
	crypt_ctx_free(ctx);
	return 0;
}

/* The entry being changed: its byte fields in buffers of its own */
struct entry {
	CipherEntry ce;
	uint8_t id[MAX_FIELD], recipient[MAX_FIELD], wrapped[MAX_FIELD], mac[MAX_FIELD], parent[MAX_FIELD];
	char wrap[MAX_FIELD + 1], stream[MAX_FIELD + 1], pages[MAX_FIELD + 1];
	/* what the harness knows: the key that the wrap it made last holds */
	bool key_known;
	uint8_t key[CRYPT_KEY_LEN];
	uint8_t key_wrap[MAX_FIELD];
};

static void set_bytes(ProtobufCBinaryData *f, uint8_t *buf, const uint8_t *src, size_t len)
{
	memcpy(buf, src, len);
	f->data = buf;
	f->len = len;
}

static void set_string(char **f, char *buf, const uint8_t *src, size_t len)
{
	memcpy(buf, src, len);
	buf[len] = '\0';
	*f = buf;
}

static void entry_init(struct entry *x)
{
	x->ce = real_ce;
	set_bytes(&x->ce.id, x->id, real_ce.id.data, real_ce.id.len);
	set_bytes(&x->ce.recipient, x->recipient, real_ce.recipient.data, real_ce.recipient.len);
	set_bytes(&x->ce.wrapped_key, x->wrapped, real_ce.wrapped_key.data, real_ce.wrapped_key.len);
	set_bytes(&x->ce.mac, x->mac, real_ce.mac.data, real_ce.mac.len);
	x->ce.parent.data = x->parent;
	set_string(&x->ce.wrap, x->wrap, (const uint8_t *)real_ce.wrap, strlen(real_ce.wrap));
	set_string(&x->ce.stream, x->stream, (const uint8_t *)real_ce.stream, strlen(real_ce.stream));
	set_string(&x->ce.pages, x->pages, (const uint8_t *)real_ce.pages, strlen(real_ce.pages));
	x->key_known = true;
	memcpy(x->key, real_key, CRYPT_KEY_LEN);
	memcpy(x->key_wrap, real_ce.wrapped_key.data, k);
}

/* MGF1 with SHA-256 (RFC 8017 B.2.1), written here again: mask ^= MGF1(seed) */
static void mgf1(const uint8_t *seed, size_t seed_len, uint8_t *mask, size_t len)
{
	uint8_t d[SHA256_DIGEST_SIZE], c[4];
	struct sha256_ctx h;
	uint32_t i;
	size_t j, o;

	for (i = 0, o = 0; o < len; i++) {
		c[0] = i >> 24;
		c[1] = i >> 16;
		c[2] = i >> 8;
		c[3] = i;
		sha256_init(&h);
		sha256_update(&h, seed_len, seed);
		sha256_update(&h, 4, c);
		sha256_digest(&h, sizeof(d), d);
		for (j = 0; j < sizeof(d) && o < len; j++)
			mask[o++] ^= d[j];
	}
}

/* RSAES-OAEP decoding of EM (k bytes), in plain steps: the length of M or -1 */
static int oaep_decode(const uint8_t *em_in, uint8_t *msg)
{
	uint8_t em[k], lhash[SHA256_DIGEST_SIZE], *seed = em + 1, *db = em + 1 + 32;
	size_t db_len = k - 33, i;
	struct sha256_ctx h;

	memcpy(em, em_in, k);
	mgf1(db, db_len, seed, 32);
	mgf1(seed, 32, db, db_len);
	sha256_init(&h);
	sha256_digest(&h, sizeof(lhash), lhash);
	if (em[0] || memcmp(db, lhash, 32))
		return -1;
	for (i = 32; i < db_len && !db[i]; i++)
		;
	if (i == db_len || db[i] != 0x01)
		return -1;
	memcpy(msg, db + i + 1, db_len - i - 1);
	return db_len - i - 1;
}

/* wrapped_key := EM^e mod n (EM itself when it is not below n); note the key */
static void wrap_em(struct entry *x, const uint8_t *em)
{
	uint8_t msg[1024];
	mpz_t m;
	int len;

	bool below;

	mpz_init(m);
	nettle_mpz_set_str_256_u(m, k, em);
	below = mpz_cmp(m, n) < 0;
	if (below) {
		mpz_powm(m, m, e, n);
		nettle_mpz_get_str_256(k, x->wrapped, m);
	} else {
		memcpy(x->wrapped, em, k);
	}
	mpz_clear(m);
	x->ce.wrapped_key.data = x->wrapped;
	x->ce.wrapped_key.len = k;
	len = oaep_decode(em, msg);
	x->key_known = below && len == CRYPT_KEY_LEN;
	if (x->key_known) {
		memcpy(x->key, msg, CRYPT_KEY_LEN);
		memcpy(x->key_wrap, x->wrapped, k);
	}
}

/* op 11: EM = 0x00 (or not) || seed || DB masked, DB = lHash || PS || sep || M */
static void wrap_shaped(struct entry *x, struct fuzz_in *in)
{
	uint8_t em[k], *db = em + 33, y = in_u8(in), lhash_flip = in_u8(in), sep = in_u8(in);
	size_t db_len = k - 33, ps_pos = in_u16(in), ps_val = in_u8(in), mlen = in_u8(in) % 48, got, i;
	const uint8_t *m = in_bytes(in, mlen, &got);
	struct sha256_ctx h;

	memset(em, 0, k);
	em[0] = y < 0xf0 ? 0 : y; /* mostly right */
	sha256_init(&h);
	sha256_digest(&h, 32, db);
	db[lhash_flip & 31] ^= lhash_flip >= 0xe0 ? lhash_flip : 0;
	memcpy(db + db_len - got, m, got);
	db[db_len - got - 1] = sep >= 0xf0 ? sep : 0x01;
	if (db_len - got - 1 > 32 && ps_val >= 0xf0)
		db[32 + ps_pos % (db_len - got - 1 - 32)] = ps_val;
	for (i = 0; i < 32; i++)
		em[1 + i] = 0x5a ^ i ^ mlen;
	mgf1(em + 1, 32, db, db_len);
	mgf1(db, db_len, em + 1, 32);
	wrap_em(x, em);
}

/* The MAC of the fields of x under the key the harness knows, by the format's text */
static void right_mac(const struct entry *x, uint8_t *mac)
{
	const CipherEntry *ce = &x->ce;
	uint8_t key[32], fmt[4] = { ce->format >> 24, ce->format >> 16, ce->format >> 8, ce->format };
	struct {
		const void *p;
		size_t len;
	} f[] = {
		{ fmt, 4 },
		{ ce->id.data, ce->id.len },
		{ ce->wrap, strlen(ce->wrap) },
		{ ce->stream, strlen(ce->stream) },
		{ ce->pages, strlen(ce->pages) },
		{ ce->recipient.data, ce->recipient.len },
		{ ce->wrapped_key.data, ce->wrapped_key.len },
		{ ce->parent.data, ce->parent.len },
	};
	struct crypt_ctx ref = {};
	struct hmac_sha256_ctx h;
	int i;

	memcpy(ref.id, ce->id.data, CRYPT_ID_LEN);
	crypt_ctx_key(&ref, x->key);
	crypt_derive(&ref, "criu-encrypt v1 cipher.img", NULL, 0, key, sizeof(key));
	hmac_sha256_set_key(&h, sizeof(key), key);
	for (i = 0; i < 7 + ce->has_parent; i++) {
		uint8_t be[2] = { f[i].len >> 8, f[i].len };

		hmac_sha256_update(&h, 2, be);
		hmac_sha256_update(&h, f[i].len, f[i].p);
	}
	hmac_sha256_digest(&h, 32, mac);
}

static bool strings_set(const CipherEntry *ce)
{
	return ce->wrap && ce->stream && ce->pages;
}

/* Must it open, by the format? */
static bool must_open(const struct entry *x)
{
	const CipherEntry *ce = &x->ce;
	uint8_t mac[32];

	if (ce->format != CRYPT_FORMAT || !strings_set(ce) || strcmp(ce->wrap, CRYPT_WRAP_ALG) ||
	    strcmp(ce->stream, CRYPT_STREAM_ALG) || strcmp(ce->pages, CRYPT_PAGES_ALG))
		return false;
	if (ce->id.len != CRYPT_ID_LEN || ce->mac.len != 32 || (ce->has_parent && ce->parent.len != 32))
		return false;
	if (ce->recipient.len != real_ce.recipient.len ||
	    memcmp(ce->recipient.data, real_ce.recipient.data, ce->recipient.len))
		return false;
	if (!x->key_known || ce->wrapped_key.len != k || memcmp(ce->wrapped_key.data, x->key_wrap, k))
		return false;
	right_mac(x, mac);
	return !memcmp(mac, ce->mac.data, 32);
}

static void apply(struct entry *x, struct fuzz_in *in)
{
	CipherEntry *ce = &x->ce;
	uint8_t op = in_u8(in) % 14, em[1024];
	size_t len, got, i;
	const uint8_t *p;

	switch (op) {
	case 0:
		ce->format = in_u32(in);
		break;
	case 1:
	case 5:
	case 8:
	case 9:
		len = in_u8(in) % 48;
		p = in_bytes(in, len, &got);
		if (op == 1)
			set_bytes(&ce->id, x->id, p, got);
		else if (op == 5)
			set_bytes(&ce->recipient, x->recipient, p, got);
		else if (op == 8)
			set_bytes(&ce->mac, x->mac, p, got);
		else {
			set_bytes(&ce->parent, x->parent, p, got);
			ce->has_parent = true;
		}
		break;
	case 2:
	case 3:
	case 4:
		len = in_u8(in);
		if (len == 0xff) {
			*(op == 2 ? &ce->wrap : op == 3 ? &ce->stream : &ce->pages) = NULL;
			break;
		}
		p = in_bytes(in, len % 40, &got);
		if (op == 2)
			set_string(&ce->wrap, x->wrap, p, got);
		else if (op == 3)
			set_string(&ce->stream, x->stream, p, got);
		else
			set_string(&ce->pages, x->pages, p, got);
		break;
	case 6:
		len = in_u16(in) % MAX_FIELD;
		p = in_bytes(in, len, &got);
		set_bytes(&ce->wrapped_key, x->wrapped, p, got);
		break;
	case 7:
		i = in_u16(in);
		if (ce->wrapped_key.len)
			x->wrapped[i % ce->wrapped_key.len] ^= in_u8(in) | 1;
		break;
	case 10:
		ce->has_parent = false;
		break;
	case 11:
		wrap_shaped(x, in);
		break;
	case 12:
		memset(em, 0, k);
		p = in_bytes(in, k, &got);
		memcpy(em + k - got, p, got);
		wrap_em(x, em);
		break;
	case 13:
		if (x->key_known && ce->id.len == CRYPT_ID_LEN && strings_set(ce)) {
			right_mac(x, x->mac);
			ce->mac.data = x->mac;
			ce->mac.len = 32;
		}
		break;
	}
}

/* The entry as a cipher.img file, parsed back by the module */
static CipherEntry *through_file(const CipherEntry *ce)
{
	uint32_t magic[2] = { IMG_COMMON_MAGIC, CIPHER_MAGIC }, size = cipher_entry__get_packed_size(ce);
	uint8_t *buf = malloc(sizeof(magic) + 4 + size);
	CipherEntry *back;

	memcpy(buf, magic, sizeof(magic));
	memcpy(buf + sizeof(magic), &size, 4);
	cipher_entry__pack(ce, buf + sizeof(magic) + 4);
	back = crypt_cipher_parse(buf, sizeof(magic) + 4 + size, "cipher.img");
	fuzz_assert(back);
	free(buf);
	return back;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	static struct entry x;
	CipherEntry *parsed = NULL;
	struct crypt_ctx *ctx, ref = {};
	uint8_t a[32], b[32];
	bool want;
	int ops;

	entry_init(&x);
	for (ops = 0; in.len && ops < 16; ops++)
		apply(&x, &in);
	want = must_open(&x);
	if (strings_set(&x.ce))
		parsed = through_file(&x.ce);
	ctx = crypt_ctx_open(parsed ?: &x.ce, fuzz_pki("key.pem"), "cipher.img");
	fuzz_assert(!ctx == !want);
	if (ctx) {
		memcpy(ref.id, x.ce.id.data, CRYPT_ID_LEN);
		crypt_ctx_key(&ref, x.key);
		crypt_derive(ctx, "fuzz", NULL, 0, a, sizeof(a));
		crypt_derive(&ref, "fuzz", NULL, 0, b, sizeof(b));
		fuzz_assert(!memcmp(a, b, sizeof(a)));
		crypt_ctx_free(ctx);
	}
	if (parsed)
		cipher_entry__free_unpacked(parsed, NULL);
	return 0;
}
