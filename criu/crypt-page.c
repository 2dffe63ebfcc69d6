/*
 * The page cipher: every 4 KiB page of a page image is encrypted alone,
 * in place and length-preserving, with AES-256-XTS, and authenticated by a
 * GMAC tag over its ciphertext and position, so that any page can be read
 * (or punched out) alone.  Both through GnuTLS, which runs them with
 * AES-NI and PCLMUL.  See Documentation/encryption-format.txt.
 *
 *   keys   Kx (64 bytes), Kt (32 bytes) = derive(label, salt || image name)
 *   page j C_j = AES-256-XTS(Kx, tweak = j as 8 bytes little-endian || 0^8, P_j)
 *          T_j = GMAC(Kt, nonce = 0^4 || j as 8 bytes big-endian, AAD = C_j)
 */
#include <inttypes.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "log.h"
#include "common/xmalloc.h"
#include "crypt-private.h"

struct crypt_pages {
	gnutls_cipher_hd_t xts;
	gnutls_aead_cipher_hd_t gmac;
	char *name;
	bool by_address; /* page j is the page at address j * 4096 (crypt-lazy.c) */
};

void crypt_pages_free(struct crypt_pages *cp)
{
	if (!cp)
		return;
	if (cp->xts)
		gnutls_cipher_deinit(cp->xts);
	if (cp->gmac)
		gnutls_aead_cipher_deinit(cp->gmac);
	xfree(cp->name);
	xfree(cp);
}

const char *crypt_pages_name(const struct crypt_pages *cp)
{
	return cp->name;
}

/* Its messages name a page by its address, not its index */
void crypt_pages_by_address(struct crypt_pages *cp)
{
	cp->by_address = true;
}

/* The page cipher of the page image name with the keys kx and kt (KATs set them directly). */
struct crypt_pages *crypt_pages_with_keys(const uint8_t *kx, const uint8_t *kt, const char *name)
{
	uint8_t iv[CRYPT_PAGE_TWEAK_LEN] = {};
	gnutls_datum_t dkx = { (uint8_t *)kx, 2 * CRYPT_KEY_LEN }, dkt = { (uint8_t *)kt, CRYPT_KEY_LEN };
	gnutls_datum_t div = { iv, sizeof(iv) };
	struct crypt_pages *cp;
	int ret;

	cp = xzalloc(sizeof(*cp));
	if (!cp || !(cp->name = xstrdup(name)))
		goto err;
	ret = gnutls_cipher_init(&cp->xts, GNUTLS_CIPHER_AES_256_XTS, &dkx, &div);
	if (ret < 0) {
		cp->xts = NULL;
		pr_err("%s: can't set up AES-256-XTS: %s\n", name, gnutls_strerror(ret));
		goto err;
	}
	ret = gnutls_aead_cipher_init(&cp->gmac, GNUTLS_CIPHER_AES_256_GCM, &dkt);
	if (ret < 0) {
		cp->gmac = NULL;
		pr_err("%s: can't set up GMAC: %s\n", name, gnutls_strerror(ret));
		goto err;
	}
	return cp;
err:
	crypt_pages_free(cp);
	return NULL;
}

/* The keys of the page image name, whose random salt is salt. */
struct crypt_pages *crypt_pages_new(const struct crypt_ctx *ctx, const char *name, const uint8_t *salt)
{
	uint8_t kx[2 * CRYPT_KEY_LEN], kt[CRYPT_KEY_LEN];
	struct crypt_pages *cp;

	crypt_derive_named(ctx, CRYPT_LABEL_XTS, salt, name, kx, sizeof(kx));
	crypt_derive_named(ctx, CRYPT_LABEL_TAG, salt, name, kt, sizeof(kt));
	cp = crypt_pages_with_keys(kx, kt, name);
	crypt_wipe(kx, sizeof(kx));
	crypt_wipe(kt, sizeof(kt));
	return cp;
}

static void page_tweak(uint64_t j, uint8_t *tweak)
{
	int i;

	memset(tweak, 0, CRYPT_PAGE_TWEAK_LEN);
	for (i = 0; i < 8; i++, j >>= 8)
		tweak[i] = j & 0xff;
}

/*
 * GMAC: AES-256-GCM of no plaintext, with len bytes of data as the
 * additional data.  Silent: also runs on the dump's worker thread, and
 * criu's log is not thread-safe.
 */
int crypt_pages_gmac(struct crypt_pages *cp, const uint8_t *nonce, const void *data, size_t len, uint8_t *tag)
{
	size_t tag_len = CRYPT_TAG_LEN;

	if (gnutls_aead_cipher_encrypt(cp->gmac, nonce, CRYPT_GMAC_NONCE_LEN, data, len, CRYPT_TAG_LEN, NULL, 0, tag,
				       &tag_len) < 0 ||
	    tag_len != CRYPT_TAG_LEN)
		return -1;
	return 0;
}

/* The tag of page j: its nonce is j, as 0^4 || 8 bytes big-endian */
static int page_tag(struct crypt_pages *cp, uint64_t j, const void *page, uint8_t *tag)
{
	uint8_t nonce[CRYPT_GMAC_NONCE_LEN] = {};
	int i;

	for (i = CRYPT_GMAC_NONCE_LEN - 1; i >= 4; i--, j >>= 8)
		nonce[i] = j & 0xff;
	return crypt_pages_gmac(cp, nonce, page, CRYPT_PAGE_SIZE, tag);
}

/*
 * Encrypt nr pages in place, the first being page index first; a tag each
 * into tags.  Silent (see page_tag()): the caller reports a failure.
 */
int crypt_pages_seal_quiet(struct crypt_pages *cp, uint64_t first, void *buf, unsigned long nr, uint8_t *tags)
{
	uint8_t tweak[CRYPT_PAGE_TWEAK_LEN];
	unsigned long i;

	for (i = 0; i < nr; i++) {
		void *page = buf + i * CRYPT_PAGE_SIZE;

		page_tweak(first + i, tweak);
		gnutls_cipher_set_iv(cp->xts, tweak, sizeof(tweak));
		if (gnutls_cipher_encrypt(cp->xts, page, CRYPT_PAGE_SIZE) < 0 ||
		    page_tag(cp, first + i, page, tags + i * CRYPT_TAG_LEN))
			return -1;
	}
	return 0;
}

int crypt_pages_seal(struct crypt_pages *cp, uint64_t first, void *buf, unsigned long nr, uint8_t *tags)
{
	if (!crypt_pages_seal_quiet(cp, first, buf, nr, tags))
		return 0;
	pr_err("%s: can't encrypt pages %" PRIu64 "-%" PRIu64 "\n", cp->name, first, first + nr - 1);
	return -1;
}

/* Authenticate nr pages against their tags, then decrypt them in place. */
int crypt_pages_open(struct crypt_pages *cp, uint64_t first, void *buf, unsigned long nr, const uint8_t *tags)
{
	uint8_t tweak[CRYPT_PAGE_TWEAK_LEN], tag[CRYPT_TAG_LEN];
	unsigned long i;

	for (i = 0; i < nr; i++) {
		void *page = buf + i * CRYPT_PAGE_SIZE;

		if (page_tag(cp, first + i, page, tag)) {
			pr_err("%s: GMAC failed at page %" PRIu64 "\n", cp->name, first + i);
			return -1;
		}
		if (!crypt_equal(tag, tags + i * CRYPT_TAG_LEN, CRYPT_TAG_LEN)) {
			set_cr_errno(EBADMSG);
			if (cp->by_address)
				pr_err("%s: the page at %#" PRIx64
				       " fails authentication (tampered, moved or not of this checkpoint)\n",
				       cp->name, (first + i) * CRYPT_PAGE_SIZE);
			else
				pr_err("%s: page %" PRIu64
				       " fails authentication (tampered, moved or not of this checkpoint)\n",
				       cp->name, first + i);
			return -1;
		}
		page_tweak(first + i, tweak);
		gnutls_cipher_set_iv(cp->xts, tweak, sizeof(tweak));
		if (gnutls_cipher_decrypt(cp->xts, page, CRYPT_PAGE_SIZE) < 0) {
			pr_err("%s: AES-256-XTS failed at page %" PRIu64 "\n", cp->name, first + i);
			return -1;
		}
	}
	return 0;
}
