/*
 * signature.img: the dump signs the digest of its checkpoint with the
 * node's key (GnuTLS); a restore verifies the signature, and with a CA
 * the signer's certificate (Documentation/encryption-format.txt, section
 * 12).  A signature binds the checkpoint key, its id, its parent and its
 * list of images to the signer, so that a checkpoint forged from the
 * recipient's public certificate alone is refused.
 */
#include <string.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "cr_options.h"
#include "log.h"
#include "common/xmalloc.h"
#include "crypt-private.h"
#include "images/cipher.pb-c.h"

#define SIGN_MAGIC     "CRIUSIGN"
#define SIGN_MAGIC_LEN 8

struct sign_alg {
	const char *name;
	gnutls_sign_algorithm_t sign;
	gnutls_pk_algorithm_t pk;
	gnutls_ecc_curve_t curve; /* ECDSA */
};

static const struct sign_alg sign_algs[] = {
	{ "rsa-pss-sha256", GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, GNUTLS_PK_RSA, 0 },
	{ "ecdsa-p256-sha256", GNUTLS_SIGN_ECDSA_SHA256, GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP256R1 },
	{ "ecdsa-p384-sha384", GNUTLS_SIGN_ECDSA_SHA384, GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP384R1 },
	{ "ed25519", GNUTLS_SIGN_EDDSA_ED25519, GNUTLS_PK_EDDSA_ED25519, 0 },
};

/* The signature algorithm of a certificate's key, or NULL */
static const struct sign_alg *cert_alg(gnutls_x509_crt_t crt)
{
	gnutls_datum_t x = {}, y = {};
	gnutls_ecc_curve_t curve = 0;
	unsigned int bits = 0, i;
	int pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);

	if (pk == GNUTLS_PK_RSA && bits < CRYPT_MIN_RSA)
		return NULL;
	if (pk == GNUTLS_PK_ECDSA) {
		if (gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, &x, &y) < 0)
			return NULL;
		gnutls_free(x.data);
		gnutls_free(y.data);
	}
	for (i = 0; i < sizeof(sign_algs) / sizeof(sign_algs[0]); i++)
		if (sign_algs[i].pk == pk && sign_algs[i].curve == curve)
			return &sign_algs[i];
	return NULL;
}

/* S = label || 0x00 || digest */
static void signed_message(const uint8_t *digest, uint8_t *msg, gnutls_datum_t *d)
{
	static const char label[] = CRYPT_LABEL_SIGNATURE;

	memcpy(msg, label, sizeof(label));
	memcpy(msg + sizeof(label), digest, CRYPT_HASH_LEN);
	d->data = msg;
	d->size = sizeof(label) + CRYPT_HASH_LEN;
}

#define SIGNED_LEN (sizeof(CRYPT_LABEL_SIGNATURE) + CRYPT_HASH_LEN)

/* The dump's signer: its key, its certificate and the CAs between it and the root (DER), the algorithm */
static struct {
	gnutls_privkey_t key;
	gnutls_datum_t chain[CRYPT_MAX_CHAIN];
	unsigned int nr;
	const struct sign_alg *alg;
	char *subject;
} signer;

/* The first of the files certs whose certificate is that of the key key_path: its index and chain, or -1 */
static int find_cert(gnutls_x509_privkey_t key, const char *key_path, const char *const *certs, int nr,
		     gnutls_x509_crt_t **chain, unsigned int *n)
{
	uint8_t kid[CRYPT_HASH_LEN], cid[CRYPT_HASH_LEN];
	int i;

	if (crypt_key_id(key, kid)) {
		pr_err("%s: can't read the key's id\n", key_path);
		return -1;
	}
	for (i = 0; i < nr; i++) {
		if (crypt_chain_load(certs[i], chain, n))
			return -1;
		if (!crypt_cert_id((*chain)[0], cid) && !memcmp(kid, cid, CRYPT_HASH_LEN))
			return i;
		crypt_chain_free(*chain, *n);
		*chain = NULL;
		*n = 0;
	}
	return -1;
}

/*
 * Dump: the signer, if there is one: --tls-key (else the node's key if it
 * exists) and its certificate, the first of the recipients' certificates
 * whose key it is, else the node's (CRYPT_DEFAULT_CERT), with the intermediate
 * CAs that follow it in its file.  A key given without its certificate is
 * an error; the node's key without it, a warning.
 */
int crypt_signer_init(const char *const *certs, int nr)
{
	const char *path = opts.tls_key ?: CRYPT_DEFAULT_KEY, *node[] = { CRYPT_DEFAULT_CERT };
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t *chain = NULL;
	unsigned int n = 0, i;
	int ret = -1;

	if (!opts.tls_key && access(CRYPT_DEFAULT_KEY, F_OK)) {
		pr_info("The checkpoint is not signed (no --tls-key, no %s)\n", CRYPT_DEFAULT_KEY);
		return 0;
	}
	if (crypt_key_load(path, &key))
		return -1;
	if (find_cert(key, path, certs, nr, &chain, &n) < 0 &&
	    (access(CRYPT_DEFAULT_CERT, F_OK) || find_cert(key, path, node, 1, &chain, &n) < 0)) {
		gnutls_x509_privkey_deinit(key);
		if (!opts.tls_key) {
			pr_warn("%s: no certificate of this key among --tls-cert or %s: the checkpoint is not signed\n",
				path, CRYPT_DEFAULT_CERT);
			return 0;
		}
		set_cr_errno(ENOKEY);
		pr_err("%s: can't sign: no certificate of this key among --tls-cert or %s\n", path, CRYPT_DEFAULT_CERT);
		return -1;
	}
	signer.alg = cert_alg(chain[0]);
	if (!signer.alg) {
		set_cr_errno(ENOKEY);
		pr_err("%s: can't sign with this key type (RSA of %d bits or more, ECDSA P-256 or P-384, Ed25519)\n",
		       path, CRYPT_MIN_RSA);
		goto out;
	}
	for (i = 0; i < n; i++, signer.nr++)
		if (gnutls_x509_crt_export2(chain[i], GNUTLS_X509_FMT_DER, &signer.chain[i]) < 0)
			goto out;
	if (gnutls_privkey_init(&signer.key) < 0)
		goto out;
	if (gnutls_privkey_import_x509(signer.key, key, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0) {
		gnutls_privkey_deinit(signer.key);
		signer.key = NULL;
		goto out;
	}
	key = NULL;
	signer.subject = crypt_cert_subject(chain[0]);
	pr_info("Signing the checkpoint as %s\n", signer.subject ?: "(no subject)");
	ret = 0;
out:
	if (key)
		gnutls_x509_privkey_deinit(key);
	crypt_chain_free(chain, n);
	if (ret)
		crypt_signer_free();
	return ret;
}

void crypt_signer_free(void)
{
	unsigned int i;

	if (signer.key)
		gnutls_privkey_deinit(signer.key);
	for (i = 0; i < signer.nr; i++)
		gnutls_free(signer.chain[i].data);
	xfree(signer.subject);
	memset(&signer, 0, sizeof(signer));
}

/*
 * Dump: signature.img of the checkpoint whose digest is digest, packed
 * into *buf (xfree()'d) of *len bytes; *buf NULL when nothing signs.
 */
int crypt_sign(const uint8_t *digest, uint8_t **buf, size_t *len)
{
	CheckpointSignature cs = CHECKPOINT_SIGNATURE__INIT;
	ProtobufCBinaryData chain[CRYPT_MAX_CHAIN];
	uint8_t msg[SIGNED_LEN];
	gnutls_datum_t m, sig = {};
	unsigned int i;
	uint32_t size;
	int r;

	*buf = NULL;
	if (!signer.key)
		return 0;
	signed_message(digest, msg, &m);
	r = gnutls_privkey_sign_data2(signer.key, signer.alg->sign, 0, &m, &sig);
	if (r < 0) {
		pr_err("Can't sign the checkpoint: %s\n", gnutls_strerror(r));
		return -1;
	}
	cs.alg = (char *)signer.alg->name;
	for (i = 0; i < signer.nr; i++) {
		chain[i].data = signer.chain[i].data;
		chain[i].len = signer.chain[i].size;
	}
	cs.n_chain = signer.nr;
	cs.chain = chain;
	cs.value.data = sig.data;
	cs.value.len = sig.size;
	size = checkpoint_signature__get_packed_size(&cs);
	*len = SIGN_MAGIC_LEN + sizeof(size) + size;
	*buf = xmalloc(*len);
	if (*buf) {
		memcpy(*buf, SIGN_MAGIC, SIGN_MAGIC_LEN);
		memcpy(*buf + SIGN_MAGIC_LEN, &size, sizeof(size));
		checkpoint_signature__pack(&cs, *buf + SIGN_MAGIC_LEN + sizeof(size));
	}
	gnutls_free(sig.data);
	return *buf ? 0 : -1;
}

static void free_chain(gnutls_x509_crt_t *chain, unsigned int nr)
{
	while (nr)
		gnutls_x509_crt_deinit(chain[--nr]);
}

/*
 * Restore: the signature.img (name) buf of len bytes of the checkpoint
 * whose digest is digest: it must verify, and with a CA (ca not NULL)
 * its signer must chain to the CA, be valid and not revoked.
 */
int crypt_sign_verify(const uint8_t *buf, size_t len, const char *name, const uint8_t *digest, const char *ca)
{
	gnutls_x509_crt_t chain[CRYPT_MAX_CHAIN];
	const struct sign_alg *alg = NULL;
	CheckpointSignature *cs = NULL;
	gnutls_pubkey_t pub = NULL;
	uint8_t msg[SIGNED_LEN];
	unsigned int nr = 0;
	gnutls_datum_t m, d;
	char *subject = NULL;
	uint32_t size;
	int ret = -1;

	set_cr_errno(EBADMSG);
	if (len < SIGN_MAGIC_LEN + sizeof(size) || memcmp(buf, SIGN_MAGIC, SIGN_MAGIC_LEN)) {
		pr_err("%s: not a signature.img (bad magic)\n", name);
		return -1;
	}
	memcpy(&size, buf + SIGN_MAGIC_LEN, sizeof(size));
	if (size != len - SIGN_MAGIC_LEN - sizeof(size) ||
	    !(cs = checkpoint_signature__unpack(NULL, size, buf + SIGN_MAGIC_LEN + sizeof(size)))) {
		pr_err("%s: malformed\n", name);
		return -1;
	}
	if (!cs->n_chain || cs->n_chain > CRYPT_MAX_CHAIN || cs->base.n_unknown_fields) {
		pr_err("%s: malformed (%zu certificates, %u unknown fields)\n", name, cs->n_chain,
		       cs->base.n_unknown_fields);
		goto out;
	}
	for (nr = 0; nr < cs->n_chain; nr++) {
		d.data = cs->chain[nr].data;
		d.size = cs->chain[nr].len;
		if (gnutls_x509_crt_init(&chain[nr]) < 0)
			goto out;
		if (gnutls_x509_crt_import(chain[nr], &d, GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(chain[nr]);
			pr_err("%s: certificate %u is malformed\n", name, nr);
			goto out;
		}
	}
	alg = cert_alg(chain[0]);
	if (!alg || strcmp(alg->name, cs->alg)) {
		pr_err("%s: the signature's algorithm '%s' is not that of the signer's key (%s)\n", name, cs->alg,
		       alg ? alg->name : "unsupported");
		goto out;
	}
	subject = crypt_cert_subject(chain[0]);
	if (ca && crypt_chain_verify(name, chain, nr, ca))
		goto out;
	set_cr_errno(EBADMSG);
	signed_message(digest, msg, &m);
	d.data = cs->value.data;
	d.size = cs->value.len;
	if (gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_x509(pub, chain[0], 0) < 0 ||
	    gnutls_pubkey_verify_data2(pub, alg->sign, 0, &m, &d) < 0) {
		pr_err("%s: the signature does not verify (tampered, or of another checkpoint)\n", name);
		goto out;
	}
	if (ca)
		pr_info("%s: signed by %s, verified against %s\n", name, subject ?: "?", ca);
	else
		pr_info("%s: signed by %s (not verified against a CA: no --tls-cacert)\n", name, subject ?: "?");
	ret = 0;
out:
	if (pub)
		gnutls_pubkey_deinit(pub);
	free_chain(chain, nr);
	xfree(subject);
	checkpoint_signature__free_unpacked(cs, NULL);
	return ret;
}
