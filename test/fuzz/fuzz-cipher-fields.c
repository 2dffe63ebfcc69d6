/*
 * The key unwraps and the MAC of cipher.img (format 2), from a real entry:
 * at start the harness makes one with crypt_ctx_new() for the three test
 * certificates cert.pem (RSA), ec-cert.pem (P-256) and ec384-cert.pem
 * (P-384), as a dump does (the checkpoint key is caught on its way out of
 * gnutls_rnd()), and the input is a list of changes to its fields:
 *
 *   op 0        format := u32
 *   op 1, 2, 3  id, mac, parent := bytes
 *   op 4        no parent
 *   op 5, 6     stream, pages := a string (or NULL)
 *   op 7        drop recipient i
 *   op 8        recipient i again, at position j (a duplicated recipient)
 *   op 9        a new recipient at position j: key_id of the input
 *               (or a test key's), empty wrap and wrapped key
 *   op 10       swap recipients i and j
 *   op 11       recipient i: wrap := a string, or one of the three wraps
 *   op 12       recipient i: key_id := bytes, or the id of a test key
 *   op 13       recipient i: wrapped_key := bytes; or flip one byte of it
 *   op 14       recipient i: ephemeral := bytes; absent; present again;
 *               a byte flipped; Y negated (the same Z); X or Y := p + d;
 *               another first byte; the compressed point
 *   op 15       recipient i := the RSA wrap for cert.pem of RSA(EM), EM
 *               an OAEP encoding the input shapes (lHash, PS, separator,
 *               message: the checkpoint key, or a new key) or raw bytes
 *   op 16       recipient i := the EC wrap for ec-cert.pem or
 *               ec384-cert.pem of the checkpoint key or a new one, with
 *               an ephemeral scalar of the input, under the current id
 *   op 17       mac := the right MAC of the fields as they are, under a
 *               key the harness wrapped (what a forger with it would write)
 *
 * The recipients (at most 20: more than the 16 a reader takes) are packed
 * with the rest into a cipher.img (magics, size, entry), parsed with
 * crypt_cipher_parse() and opened with crypt_ctx_open() with each of the
 * three test keys.  Properties: each opens exactly when the harness's own
 * reading of the format says it must (version, algorithms, sizes, 1 to 16
 * recipients each with a 32-byte key_id, no two of one key_id; the
 * recipient of the key's id has the key's wrap and a wrapped key the harness made for that key,
 * and for ECDH the same ephemeral, checkpoint id and key_id it made it
 * with; the right MAC under the key it holds), and then gives the keys of
 * that checkpoint key and id.  The harness writes the wraps again itself:
 * OAEP encoding and MGF1, the ECDH KEK (HKDF written on HMAC), the
 * AEAD of libsodium, the MAC's field framing.
 */
#include <dlfcn.h>

#include <gmp.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/bignum.h>
#include <nettle/ecc-curve.h>
#include <nettle/ecc.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>
#include <sodium.h>

#include "magic.h"
#include "fuzz.h"
#include "images/cipher.pb-c.h"

#define MAX_FIELD 600
#define MAX_SLOTS 20
#define MAX_WRAPS 24
#define NR_KEYS	  3 /* the test keys: 0 RSA, 1 P-256, 2 P-384 */

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

static const char *const cert_files[NR_KEYS] = { "cert.pem", "ec-cert.pem", "ec384-cert.pem" };
static const char *const key_files[NR_KEYS] = { "key.pem", "ec-key.pem", "ec384-key.pem" };
static const char *const wraps[NR_KEYS] = { "rsa-oaep-sha256", "ecdh-p256-hkdf-sha256", "ecdh-p384-hkdf-sha256" };
/* the field primes of P-256 and P-384 */
static const char *const primes[NR_KEYS] = {
	NULL,
	"ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
	"fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
};
static char key_paths[NR_KEYS][4096];

/* What the harness knows of the test keys: their ids, RSA's n, e, k; the EC points */
static uint8_t kids[NR_KEYS][CRYPT_HASH_LEN];
static mpz_t n, e, p[NR_KEYS];
static size_t k; /* bytes of the modulus */
static struct ecc_point q[NR_KEYS];
static const struct ecc_curve *curves[NR_KEYS];
static size_t coord[NR_KEYS]; /* bytes of a coordinate */

static CipherEntry real_ce;
static uint8_t real_key[CRYPT_KEY_LEN];

/* A wrap the harness knows the key of: made by crypt_ctx_new() or by the harness */
struct wrap {
	int key;		     /* for the test key */
	uint8_t ck[CRYPT_KEY_LEN];   /* the checkpoint key it holds */
	uint8_t wrapped[MAX_FIELD];
	size_t wrapped_len;
	uint8_t eph[MAX_FIELD]; /* ECDH: the ephemeral key, the id and the key_id it is bound to */
	size_t eph_len;
	uint8_t id[MAX_FIELD];
	size_t id_len;
	uint8_t kid[CRYPT_HASH_LEN];
};

/* A recipient being changed: its fields in buffers of its own */
struct slot {
	char wrap[MAX_FIELD + 1];
	uint8_t key_id[MAX_FIELD], wrapped[MAX_FIELD], eph[MAX_FIELD];
	size_t key_id_len, wrapped_len, eph_len;
	bool has_eph;
};

/* The entry being changed */
struct entry {
	CipherEntry ce;
	uint8_t id[MAX_FIELD], mac[MAX_FIELD], parent[MAX_FIELD];
	char stream[MAX_FIELD + 1], pages[MAX_FIELD + 1];
	struct slot slots[MAX_SLOTS];
	int nr;
	struct wrap known[MAX_WRAPS];
	int nr_known;
	/* for packing */
	CipherRecipient rs[MAX_SLOTS], *rps[MAX_SLOTS];
};

/* HMAC-SHA256 of the pieces (NULL-terminated), key k of klen bytes */
static void hmac(const uint8_t *key, size_t klen, uint8_t *out, const void *data, size_t len, const void *data2,
		 size_t len2, const void *data3, size_t len3)
{
	struct hmac_sha256_ctx h;

	hmac_sha256_set_key(&h, klen, key);
	hmac_sha256_update(&h, len, data);
	if (data2)
		hmac_sha256_update(&h, len2, data2);
	if (data3)
		hmac_sha256_update(&h, len3, data3);
	hmac_sha256_digest(&h, 32, out);
}

/* HKDF-SHA256 of 32 bytes (one block): T(1) = HMAC(HMAC(salt, ikm), info || 0x01) */
static void hkdf32(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
		   size_t info_len, uint8_t *out)
{
	uint8_t prk[32], one = 1;

	hmac(salt, salt_len, prk, ikm, ikm_len, NULL, 0, NULL, 0);
	hmac(prk, sizeof(prk), out, info, info_len, &one, 1, NULL, 0);
}

/* A key of the checkpoint (ck, id): HKDF-Expand(PRK, label || 0x00, 32) */
static void derive(const uint8_t *ck, const uint8_t *id, size_t id_len, const char *label, uint8_t *out)
{
	hkdf32(id, id_len, ck, CRYPT_KEY_LEN, (const uint8_t *)label, strlen(label) + 1, out);
}

/* The recipients' public keys, read from the certificates by the harness itself */
static void load_keys(void)
{
	int i;

	for (i = 0; i < NR_KEYS; i++) {
		gnutls_datum_t d, a = {}, b = {};
		gnutls_ecc_curve_t cid;
		gnutls_x509_crt_t crt;
		mpz_t x, y;
		bool ok;

		snprintf(key_paths[i], sizeof(key_paths[i]), "%s", fuzz_pki(key_files[i]));
		if (gnutls_load_file(fuzz_pki(cert_files[i]), &d) < 0 || gnutls_x509_crt_init(&crt) < 0 ||
		    gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0) {
			fprintf(stderr, "fuzz: can't read %s\n", fuzz_pki(cert_files[i]));
			abort();
		}
		fuzz_cert_id(cert_files[i], kids[i]);
		if (!i) {
			ok = gnutls_x509_crt_get_pk_rsa_raw(crt, &a, &b) >= 0;
			mpz_init(n);
			mpz_init(e);
			nettle_mpz_set_str_256_u(n, a.size, a.data);
			nettle_mpz_set_str_256_u(e, b.size, b.data);
			k = (mpz_sizeinbase(n, 2) + 7) / 8;
			ok &= k + 1 <= MAX_FIELD;
		} else {
			ok = gnutls_x509_crt_get_pk_ecc_raw(crt, &cid, &a, &b) >= 0 &&
			     cid == (i == 1 ? GNUTLS_ECC_CURVE_SECP256R1 : GNUTLS_ECC_CURVE_SECP384R1);
			curves[i] = i == 1 ? nettle_get_secp_256r1() : nettle_get_secp_384r1();
			coord[i] = i == 1 ? 32 : 48;
			mpz_init_set_str(p[i], primes[i], 16);
			mpz_init(x);
			mpz_init(y);
			nettle_mpz_set_str_256_u(x, a.size, a.data);
			nettle_mpz_set_str_256_u(y, b.size, b.data);
			ecc_point_init(&q[i], curves[i]);
			ok = ok && ecc_point_set(&q[i], x, y);
			mpz_clear(x);
			mpz_clear(y);
		}
		if (!ok) {
			fprintf(stderr, "fuzz: %s is not the key it should be\n", fuzz_pki(cert_files[i]));
			abort();
		}
		gnutls_free(a.data);
		gnutls_free(b.data);
		gnutls_free(d.data);
		gnutls_x509_crt_deinit(crt);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *certs[NR_KEYS];
	struct crypt_ctx *ctx, ref = {};
	uint8_t a[32], b[32];
	size_t i;

	fuzz_init();
	load_keys();
	for (i = 0; i < NR_KEYS; i++)
		certs[i] = strdup(fuzz_pki(cert_files[i]));
	catch_key = real_key;
	ctx = crypt_ctx_new(certs, NR_KEYS, NULL, &real_ce);
	for (i = 0; i < NR_KEYS; i++)
		free((char *)certs[i]);
	if (!ctx || catch_key || real_ce.n_recipients != NR_KEYS) {
		fprintf(stderr, "fuzz: can't make a cipher.img entry for the test certificates\n");
		abort();
	}
	/* the caught key is the checkpoint key */
	memcpy(ref.id, ctx->id, CRYPT_ID_LEN);
	crypt_ctx_key(&ref, real_key);
	crypt_derive(ctx, "fuzz", NULL, 0, a, sizeof(a));
	crypt_derive(&ref, "fuzz", NULL, 0, b, sizeof(b));
	fuzz_assert(!memcmp(a, b, sizeof(a)));
	for (i = 0; i < NR_KEYS; i++) {
		const CipherRecipient *r = real_ce.recipients[i];

		fuzz_assert(!strcmp(r->wrap, wraps[i]) && r->key_id.len == CRYPT_HASH_LEN &&
			    !memcmp(r->key_id.data, kids[i], CRYPT_HASH_LEN) && r->has_ephemeral == (i != 0) &&
			    r->wrapped_key.len == (i ? CRYPT_KEY_LEN + 16 : k) &&
			    (!i || r->ephemeral.len == 1 + 2 * coord[i]));
	}
	crypt_ctx_free(ctx);
	return 0;
}

static void set_bytes(ProtobufCBinaryData *f, uint8_t *buf, const uint8_t *src, size_t len)
{
	memmove(buf, src, len);
	f->data = buf;
	f->len = len;
}

static void set_string(char **f, char *buf, const uint8_t *src, size_t len)
{
	memmove(buf, src, len);
	buf[len] = '\0';
	*f = buf;
}

/* memmove() of what may be NULL when len is 0 (an absent field) */
static void copy(uint8_t *dst, const uint8_t *src, size_t len)
{
	if (len)
		memmove(dst, src, len);
}

static void slot_set(struct slot *s, const char *wrap, const uint8_t *kid, size_t kid_len, const uint8_t *wrapped,
		     size_t wrapped_len, const uint8_t *eph, size_t eph_len, bool has_eph)
{
	snprintf(s->wrap, sizeof(s->wrap), "%s", wrap);
	copy(s->key_id, kid, kid_len);
	s->key_id_len = kid_len;
	copy(s->wrapped, wrapped, wrapped_len);
	s->wrapped_len = wrapped_len;
	copy(s->eph, eph, eph_len);
	s->eph_len = eph_len;
	s->has_eph = has_eph;
}

/* Note a wrap of slot s for the test key t, of the checkpoint key ck, bound to the current id (ECDH) */
static void know(struct entry *x, const struct slot *s, int t, const uint8_t *ck)
{
	struct wrap *w;

	if (x->nr_known == MAX_WRAPS)
		return;
	w = &x->known[x->nr_known++];
	w->key = t;
	memcpy(w->ck, ck, CRYPT_KEY_LEN);
	copy(w->wrapped, s->wrapped, s->wrapped_len);
	w->wrapped_len = s->wrapped_len;
	copy(w->eph, s->eph, s->eph_len);
	w->eph_len = s->eph_len;
	copy(w->id, x->ce.id.data, x->ce.id.len);
	w->id_len = x->ce.id.len;
	memcpy(w->kid, kids[t], CRYPT_HASH_LEN);
}

static void entry_init(struct entry *x)
{
	int i;

	x->ce = real_ce;
	set_bytes(&x->ce.id, x->id, real_ce.id.data, real_ce.id.len);
	set_bytes(&x->ce.mac, x->mac, real_ce.mac.data, real_ce.mac.len);
	x->ce.parent.data = x->parent;
	x->ce.parent.len = 0;
	x->ce.has_parent = false;
	set_string(&x->ce.stream, x->stream, (const uint8_t *)real_ce.stream, strlen(real_ce.stream));
	set_string(&x->ce.pages, x->pages, (const uint8_t *)real_ce.pages, strlen(real_ce.pages));
	x->nr = NR_KEYS;
	x->nr_known = 0;
	for (i = 0; i < NR_KEYS; i++) {
		const CipherRecipient *r = real_ce.recipients[i];

		slot_set(&x->slots[i], r->wrap, r->key_id.data, r->key_id.len, r->wrapped_key.data,
			 r->wrapped_key.len, r->ephemeral.data, r->ephemeral.len, r->has_ephemeral);
		know(x, &x->slots[i], i, real_key);
	}
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

/* slot s := the RSA recipient with wrapped_key EM^e mod n (EM itself when it is not below n); note its key */
static void wrap_em(struct entry *x, struct slot *s, const uint8_t *em)
{
	uint8_t msg[1024], c[MAX_FIELD];
	bool below;
	mpz_t m;
	int len;

	mpz_init(m);
	nettle_mpz_set_str_256_u(m, k, em);
	below = mpz_cmp(m, n) < 0;
	if (below) {
		mpz_powm(m, m, e, n);
		nettle_mpz_get_str_256(k, c, m);
	} else {
		memcpy(c, em, k);
	}
	mpz_clear(m);
	slot_set(s, wraps[0], kids[0], CRYPT_HASH_LEN, c, k, NULL, 0, false);
	len = oaep_decode(em, msg);
	if (below && len == CRYPT_KEY_LEN)
		know(x, s, 0, msg);
}

/* op 15, shaped: EM = 0x00 (or not) || seed || DB masked, DB = lHash || PS || sep || M */
static void wrap_shaped(struct entry *x, struct slot *s, struct fuzz_in *in)
{
	uint8_t em[k], *db = em + 33, y = in_u8(in), lhash_flip = in_u8(in), sep = in_u8(in);
	size_t db_len = k - 33, ps_pos = in_u16(in), ps_val = in_u8(in), mlen = in_u8(in), got, i;
	const uint8_t *m;

	/* M: the checkpoint key (0xff), or up to 47 bytes of the input */
	if (mlen == 0xff) {
		m = real_key;
		got = CRYPT_KEY_LEN;
	} else {
		m = in_bytes(in, mlen % 48, &got);
	}
	memset(em, 0, k);
	em[0] = y < 0xf0 ? 0 : y; /* mostly right */
	{
		struct sha256_ctx h;

		sha256_init(&h);
		sha256_digest(&h, 32, db);
	}
	db[lhash_flip & 31] ^= lhash_flip >= 0xe0 ? lhash_flip : 0;
	memcpy(db + db_len - got, m, got);
	db[db_len - got - 1] = sep >= 0xf0 ? sep : 0x01;
	if (db_len - got - 1 > 32 && ps_val >= 0xf0)
		db[32 + ps_pos % (db_len - got - 1 - 32)] = ps_val;
	for (i = 0; i < 32; i++)
		em[1 + i] = 0x5a ^ i ^ mlen;
	mgf1(em + 1, 32, db, db_len);
	mgf1(db, db_len, em + 1, 32);
	wrap_em(x, s, em);
}

/* An uncompressed point of curve t */
static void put_point(int t, const struct ecc_point *pt, uint8_t *out)
{
	mpz_t a, b;

	mpz_init(a);
	mpz_init(b);
	ecc_point_get(pt, a, b);
	out[0] = 0x04;
	nettle_mpz_get_str_256(coord[t], out + 1, a);
	nettle_mpz_get_str_256(coord[t], out + 1 + coord[t], b);
	mpz_clear(a);
	mpz_clear(b);
}

/*
 * op 16: slot s := the EC wrap for test key t of a checkpoint key (the
 * real one, or of the input) with the ephemeral scalar of the input:
 * E = e * G, Z = X(e * Q), KEK = HKDF(salt = id, IKM = Z, info =
 * "criu-encrypt v2 ecdh" || 0x00 || E || key_id), wrapped_key =
 * ChaCha20-Poly1305(KEK, 0^12, K)
 */
static void wrap_ec(struct entry *x, struct slot *s, struct fuzz_in *in)
{
	static const char label[] = "criu-encrypt v2 ecdh";
	int t = 1 + (in_u8(in) & 1);
	uint8_t eph[1 + 2 * 48], z[1 + 2 * 48], ck[CRYPT_KEY_LEN], kek[32], wrapped[CRYPT_KEY_LEN + 16];
	uint8_t info[sizeof(label) + sizeof(eph) + CRYPT_HASH_LEN];
	size_t sgot, kgot = 0, eph_len = 1 + 2 * coord[t], info_len = sizeof(label) + eph_len + CRYPT_HASH_LEN;
	const uint8_t *sb = in_bytes(in, coord[t], &sgot), *kb;
	struct ecc_scalar sc;
	struct ecc_point pe, ps;
	unsigned long long wl;
	mpz_t v;
	bool ok;

	kb = in_u8(in) < 0x80 ? real_key : in_bytes(in, CRYPT_KEY_LEN, &kgot);
	if (kb != real_key && kgot < CRYPT_KEY_LEN)
		return;
	memcpy(ck, kb, CRYPT_KEY_LEN);
	/* the scalar: 0 or not below the order is refused by Nettle, and no wrap is made */
	mpz_init(v);
	nettle_mpz_set_str_256_u(v, sgot, sb);
	ecc_scalar_init(&sc, curves[t]);
	ok = ecc_scalar_set(&sc, v);
	mpz_clear(v);
	if (!ok) {
		ecc_scalar_clear(&sc);
		return;
	}
	ecc_point_init(&pe, curves[t]);
	ecc_point_init(&ps, curves[t]);
	ecc_point_mul_g(&pe, &sc);
	ecc_point_mul(&ps, &sc, &q[t]);
	put_point(t, &pe, eph);
	put_point(t, &ps, z);
	ecc_point_clear(&pe);
	ecc_point_clear(&ps);
	ecc_scalar_clear(&sc);

	memcpy(info, label, sizeof(label));
	memcpy(info + sizeof(label), eph, eph_len);
	memcpy(info + sizeof(label) + eph_len, kids[t], CRYPT_HASH_LEN);
	hkdf32(x->ce.id.data, x->ce.id.len, z + 1, coord[t], info, info_len, kek);
	crypto_aead_chacha20poly1305_ietf_encrypt(wrapped, &wl, ck, sizeof(ck), NULL, 0, NULL,
						  (const uint8_t[12]){}, kek);
	slot_set(s, wraps[t], kids[t], CRYPT_HASH_LEN, wrapped, wl, eph, eph_len, true);
	know(x, s, t, ck);
}

/* The MAC of the fields of x under the checkpoint key ck, by the format's text (section 4) */
static void right_mac(const struct entry *x, const uint8_t *ck, uint8_t *mac)
{
	const CipherEntry *ce = &x->ce;
	uint8_t key[32], fmt[4] = { ce->format >> 24, ce->format >> 16, ce->format >> 8, ce->format };
	struct {
		const void *p;
		size_t len;
	} f[] = {
		{ fmt, 4 },
		{ ce->id.data, ce->id.len },
		{ ce->stream, strlen(ce->stream) },
		{ ce->pages, strlen(ce->pages) },
		{ ce->parent.data, ce->parent.len },
	};
	struct hmac_sha256_ctx h;
	int i;

	derive(ck, ce->id.data, ce->id.len, "criu-encrypt v2 cipher.img", key);
	hmac_sha256_set_key(&h, sizeof(key), key);
	for (i = 0; i < 4 + ce->has_parent; i++) {
		uint8_t be[2] = { f[i].len >> 8, f[i].len };

		hmac_sha256_update(&h, 2, be);
		hmac_sha256_update(&h, f[i].len, f[i].p);
	}
	hmac_sha256_digest(&h, 32, mac);
}

static bool strings_set(const CipherEntry *ce)
{
	return ce->stream && ce->pages;
}

static bool same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && !memcmp(a, b, alen);
}

/* The wrap the harness knows that recipient s is for test key t, or NULL */
static const struct wrap *known_wrap(const struct entry *x, const struct slot *s, int t)
{
	int i;

	if (strcmp(s->wrap, wraps[t]))
		return NULL;
	for (i = 0; i < x->nr_known; i++) {
		const struct wrap *w = &x->known[i];

		if (w->key != t || !same(s->wrapped, s->wrapped_len, w->wrapped, w->wrapped_len))
			continue;
		if (!t && !s->has_eph)
			return w; /* RSA: the ciphertext alone */
		if (t && s->has_eph && same(s->eph, s->eph_len, w->eph, w->eph_len) &&
		    same(x->ce.id.data, x->ce.id.len, w->id, w->id_len) &&
		    same(s->key_id, s->key_id_len, w->kid, CRYPT_HASH_LEN))
			return w;
	}
	return NULL;
}

/* Must it open with test key t, by the format?  Then *ck is its checkpoint key. */
static bool must_open(const struct entry *x, int t, uint8_t *ck)
{
	const CipherEntry *ce = &x->ce;
	const struct slot *s = NULL;
	const struct wrap *w;
	uint8_t mac[32];
	int i, j;

	if (ce->format != CRYPT_FORMAT || !strings_set(ce) || strcmp(ce->stream, CRYPT_STREAM_ALG) ||
	    strcmp(ce->pages, CRYPT_PAGES_ALG))
		return false;
	if (ce->id.len != CRYPT_ID_LEN || ce->mac.len != 32 || (ce->has_parent && ce->parent.len != 32))
		return false;
	if (x->nr < 1 || x->nr > CRYPT_MAX_RECIPIENTS)
		return false;
	for (i = 0; i < x->nr; i++)
		if (x->slots[i].key_id_len != CRYPT_HASH_LEN)
			return false;
	/* no two recipients of one key id */
	for (i = 0; i < x->nr; i++)
		for (j = 0; j < i; j++)
			if (!memcmp(x->slots[i].key_id, x->slots[j].key_id, CRYPT_HASH_LEN))
				return false;
	/* the recipient of the key's id is the key's */
	for (i = 0; i < x->nr && !s; i++)
		if (!memcmp(x->slots[i].key_id, kids[t], CRYPT_HASH_LEN))
			s = &x->slots[i];
	if (!s || !(w = known_wrap(x, s, t)))
		return false;
	memcpy(ck, w->ck, CRYPT_KEY_LEN);
	right_mac(x, ck, mac);
	return !memcmp(mac, ce->mac.data, 32);
}

/* op 14: the ephemeral key of s, changed */
static void change_ephemeral(struct slot *s, struct fuzz_in *in)
{
	uint8_t how = in_u8(in) % 8, v = in_u8(in);
	int t = s->eph_len == 65 ? 1 : s->eph_len == 97 ? 2 : 0;
	size_t len, got, i;
	const uint8_t *b;
	mpz_t c;

	switch (how) {
	case 0:
		len = v % 100;
		b = in_bytes(in, len, &got);
		memcpy(s->eph, b, got);
		s->eph_len = got;
		s->has_eph = true;
		break;
	case 1:
		s->has_eph = false;
		break;
	case 2:
		s->has_eph = true;
		break;
	case 3:
		i = in_u16(in);
		if (s->eph_len)
			s->eph[i % s->eph_len] ^= v | 1;
		break;
	case 4: /* (X, p - Y): another point of the same X, the same Z */
	case 5: /* X or Y := p + d */
		if (!t)
			break;
		mpz_init(c);
		if (how == 4) {
			nettle_mpz_set_str_256_u(c, coord[t], s->eph + 1 + coord[t]);
			mpz_sub(c, p[t], c);
			if (mpz_sgn(c) < 0)
				mpz_add(c, c, p[t]);
		} else {
			mpz_add_ui(c, p[t], v % 4);
		}
		nettle_mpz_get_str_256(coord[t], s->eph + 1 + (how == 4 || v & 0x80 ? coord[t] : 0), c);
		mpz_clear(c);
		break;
	case 6:
		if (s->eph_len)
			s->eph[0] = v;
		break;
	case 7: /* compressed: 0x02 | (Y & 1) || X */
		if (!t)
			break;
		s->eph[0] = 0x02 | (s->eph[s->eph_len - 1] & 1);
		s->eph_len = 1 + coord[t];
		break;
	}
}

static void apply(struct entry *x, struct fuzz_in *in)
{
	CipherEntry *ce = &x->ce;
	uint8_t op = in_u8(in) % 18, em[1024], v;
	struct slot *s = x->nr ? &x->slots[in_u8(in) % x->nr] : NULL;
	size_t len, got, i, j;
	const uint8_t *b;

	switch (op) {
	case 0:
		ce->format = in_u32(in);
		break;
	case 1:
	case 2:
	case 3:
		len = in_u8(in) % 48;
		b = in_bytes(in, len, &got);
		if (op == 1)
			set_bytes(&ce->id, x->id, b, got);
		else if (op == 2)
			set_bytes(&ce->mac, x->mac, b, got);
		else {
			set_bytes(&ce->parent, x->parent, b, got);
			ce->has_parent = true;
		}
		break;
	case 4:
		ce->has_parent = false;
		break;
	case 5:
	case 6:
		len = in_u8(in);
		if (len == 0xff) {
			*(op == 5 ? &ce->stream : &ce->pages) = NULL;
			break;
		}
		b = in_bytes(in, len % 40, &got);
		if (op == 5)
			set_string(&ce->stream, x->stream, b, got);
		else
			set_string(&ce->pages, x->pages, b, got);
		break;
	case 7:
		if (!s)
			break;
		i = s - x->slots;
		memmove(&x->slots[i], &x->slots[i + 1], (x->nr - i - 1) * sizeof(*s));
		x->nr--;
		break;
	case 8:
	case 9:
		j = in_u8(in) % (x->nr + 1);
		if (x->nr == MAX_SLOTS || (op == 8 && !s))
			break;
		i = s ? s - x->slots : 0;
		memmove(&x->slots[j + 1], &x->slots[j], (x->nr - j) * sizeof(*s));
		x->nr++;
		if (op == 8) {
			x->slots[j] = x->slots[i + (i >= j)];
			break;
		}
		v = in_u8(in);
		if (v < 3 * 0x40) {
			slot_set(&x->slots[j], "", kids[v % NR_KEYS], CRYPT_HASH_LEN, NULL, 0, NULL, 0, false);
		} else {
			b = in_bytes(in, v % 48, &got);
			slot_set(&x->slots[j], "", b, got, NULL, 0, NULL, 0, false);
		}
		break;
	case 10:
		j = in_u8(in);
		if (s) {
			struct slot tmp = *s;

			*s = x->slots[j % x->nr];
			x->slots[j % x->nr] = tmp;
		}
		break;
	case 11:
		v = in_u8(in);
		if (!s)
			break;
		if (v >= 0xf0) {
			snprintf(s->wrap, sizeof(s->wrap), "%s", wraps[v % NR_KEYS]);
		} else {
			b = in_bytes(in, v % 40, &got);
			memcpy(s->wrap, b, got);
			s->wrap[got] = '\0';
		}
		break;
	case 12:
		v = in_u8(in);
		if (!s)
			break;
		if (v >= 0xf0) {
			memcpy(s->key_id, kids[v % NR_KEYS], CRYPT_HASH_LEN);
			s->key_id_len = CRYPT_HASH_LEN;
		} else {
			b = in_bytes(in, v % 48, &got);
			memcpy(s->key_id, b, got);
			s->key_id_len = got;
		}
		break;
	case 13:
		v = in_u8(in);
		if (!s)
			break;
		if (v & 1) {
			i = in_u16(in);
			if (s->wrapped_len)
				s->wrapped[i % s->wrapped_len] ^= in_u8(in) | 1;
		} else {
			b = in_bytes(in, in_u16(in) % MAX_FIELD, &got);
			memcpy(s->wrapped, b, got);
			s->wrapped_len = got;
		}
		break;
	case 14:
		if (s)
			change_ephemeral(s, in);
		break;
	case 15:
		if (!s)
			break;
		if (in_u8(in) & 1) {
			wrap_shaped(x, s, in);
		} else {
			memset(em, 0, k);
			b = in_bytes(in, k, &got);
			memcpy(em + k - got, b, got);
			wrap_em(x, s, em);
		}
		break;
	case 16:
		if (s)
			wrap_ec(x, s, in);
		break;
	case 17:
		v = in_u8(in);
		if (x->nr_known && strings_set(ce)) {
			right_mac(x, x->known[v % x->nr_known].ck, x->mac);
			ce->mac.data = x->mac;
			ce->mac.len = 32;
		}
		break;
	}
}

/* The entry as a cipher.img file, parsed back by the module */
static CipherEntry *through_file(struct entry *x)
{
	uint32_t magic[2] = { IMG_COMMON_MAGIC, CIPHER_MAGIC }, size;
	CipherEntry *back;
	uint8_t *buf;
	int i;

	for (i = 0; i < x->nr; i++) {
		const struct slot *s = &x->slots[i];
		CipherRecipient *r = &x->rs[i];

		cipher_recipient__init(r);
		r->wrap = (char *)s->wrap;
		r->key_id = (ProtobufCBinaryData){ s->key_id_len, (uint8_t *)s->key_id };
		r->wrapped_key = (ProtobufCBinaryData){ s->wrapped_len, (uint8_t *)s->wrapped };
		r->ephemeral = (ProtobufCBinaryData){ s->eph_len, (uint8_t *)s->eph };
		r->has_ephemeral = s->has_eph;
		x->rps[i] = r;
	}
	x->ce.recipients = x->rps;
	x->ce.n_recipients = x->nr;
	size = cipher_entry__get_packed_size(&x->ce);
	buf = malloc(sizeof(magic) + 4 + size);
	memcpy(buf, magic, sizeof(magic));
	memcpy(buf + sizeof(magic), &size, 4);
	cipher_entry__pack(&x->ce, buf + sizeof(magic) + 4);
	back = crypt_cipher_parse(buf, sizeof(magic) + 4 + size, "cipher.img");
	fuzz_assert(back);
	free(buf);
	return back;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	static struct entry x;
	CipherEntry *parsed;
	struct crypt_ctx *ctx;
	uint8_t ck[CRYPT_KEY_LEN], a[32], b[32];
	bool want;
	int ops, t;

	entry_init(&x);
	for (ops = 0; in.len && ops < 16; ops++)
		apply(&x, &in);
	/* an entry without its strings can't be a file; criu's check of it then, as it is */
	parsed = strings_set(&x.ce) ? through_file(&x) : NULL;
	if (!parsed) {
		x.ce.n_recipients = 0;
		x.ce.recipients = NULL;
	}
	for (t = 0; t < NR_KEYS; t++) {
		want = must_open(&x, t, ck);
		ctx = crypt_ctx_open(parsed ?: &x.ce, key_paths[t], "cipher.img");
		if (!ctx != !want)
			fprintf(stderr, "fuzz: with %s the entry %s, and should %s\n", key_files[t],
				ctx ? "opens" : "does not open", want ? "open" : "not");
		fuzz_assert(!ctx == !want);
		if (ctx) {
			crypt_derive(ctx, "fuzz", NULL, 0, a, sizeof(a));
			derive(ck, x.ce.id.data, x.ce.id.len, "fuzz", b);
			fuzz_assert(!memcmp(a, b, sizeof(a)));
			crypt_ctx_free(ctx);
		}
	}
	if (parsed)
		cipher_entry__free_unpacked(parsed, NULL);
	return 0;
}
