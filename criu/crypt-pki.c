/*
 * The PKI files of an encrypted checkpoint: certificates and private keys
 * read with bounds and checks (a regular file, a private key no one else
 * can read, a PKCS#8 passphrase never on the command line), key ids, and
 * certificates verified against a CA and its CRL (GnuTLS's trust list).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "cr_options.h"
#include "log.h"
#include "common/xmalloc.h"
#include "crypt-private.h"

#define PKI_FILE_MAX (1 << 20)
#define PASS_ENV     "CRIU_TLS_KEY_PASS"

/* A PEM or DER file, whole: a regular file of at most 1 MiB (d->data is xfree()'d). */
static int read_file(const char *path, gnutls_datum_t *d, struct stat *st)
{
	ssize_t n;
	int fd;

	d->data = NULL;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		set_cr_errno(ENOKEY);
		pr_perror("%s: can't read", path);
		return -1;
	}
	if (fstat(fd, st) || !S_ISREG(st->st_mode) || st->st_size > PKI_FILE_MAX) {
		set_cr_errno(ENOKEY);
		pr_err("%s: not a regular file of at most %d bytes\n", path, PKI_FILE_MAX);
		goto err;
	}
	d->data = xmalloc(st->st_size + 1);
	if (!d->data)
		goto err;
	n = pread(fd, d->data, st->st_size, 0);
	if (n != st->st_size) {
		pr_err("%s: can't read it whole\n", path);
		goto err;
	}
	d->size = n;
	d->data[n] = '\0';
	close(fd);
	return 0;
err:
	xfree(d->data);
	d->data = NULL;
	close(fd);
	return -1;
}

static void free_file(gnutls_datum_t *d)
{
	if (d->data)
		crypt_wipe(d->data, d->size);
	xfree(d->data);
	d->data = NULL;
}

/*
 * The certificates of the file path: a certificate, then the intermediate
 * CAs that issued it, if any (PEM); or one certificate (DER).
 * gnutls_free() the list after crypt_chain_free().
 */
int crypt_chain_load(const char *path, gnutls_x509_crt_t **chain, unsigned int *nr)
{
	gnutls_datum_t d;
	struct stat st;
	int ret = -1;

	*chain = NULL;
	*nr = 0;
	if (read_file(path, &d, &st))
		return -1;
	if (gnutls_x509_crt_list_import2(chain, nr, &d, GNUTLS_X509_FMT_PEM, 0) < 0 &&
	    gnutls_x509_crt_list_import2(chain, nr, &d, GNUTLS_X509_FMT_DER, 0) < 0) {
		set_cr_errno(ENOKEY);
		pr_err("%s: not an X.509 certificate\n", path);
		goto out;
	}
	if (*nr > CRYPT_MAX_CHAIN) {
		set_cr_errno(ENOKEY);
		pr_err("%s: more than %d certificates\n", path, CRYPT_MAX_CHAIN);
		crypt_chain_free(*chain, *nr);
		goto out;
	}
	ret = 0;
out:
	free_file(&d);
	return ret;
}

void crypt_chain_free(gnutls_x509_crt_t *chain, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		gnutls_x509_crt_deinit(chain[i]);
	gnutls_free(chain);
}

/* The passphrase of an encrypted private key: --tls-key-pass-file, or the environment. */
static char *passphrase(void)
{
	gnutls_datum_t d;
	struct stat st;
	char *p, *env;

	if (!opts.tls_key_pass_file) {
		env = getenv(PASS_ENV);
		return env ? xstrdup(env) : NULL;
	}
	if (read_file(opts.tls_key_pass_file, &d, &st))
		return NULL;
	if (!opts.tls_key_any_mode && (st.st_mode & 077)) {
		pr_err("%s: readable or writable by group or others (mode %04o): chmod 600 it, or --tls-key-any-mode\n",
		       opts.tls_key_pass_file, st.st_mode & 07777);
		free_file(&d);
		return NULL;
	}
	p = (char *)d.data;
	p[strcspn(p, "\n")] = '\0';
	return p;
}

static void free_pass(char *p)
{
	if (p)
		crypt_wipe(p, strlen(p));
	xfree(p);
}

/*
 * A private key: a regular file that neither group nor others may read
 * or write (unless --tls-key-any-mode), PKCS#1, SEC1 or PKCS#8, which may
 * be encrypted (the passphrase as passphrase() finds it).
 */
int crypt_key_load(const char *path, gnutls_x509_privkey_t *key)
{
	gnutls_datum_t d;
	char *pass = NULL;
	struct stat st;
	int ret = -1, r;

	if (read_file(path, &d, &st))
		return -1;
	if (!opts.tls_key_any_mode && (st.st_mode & 077)) {
		set_cr_errno(ENOKEY);
		pr_err("%s: a private key readable or writable by group or others (mode %04o): chmod 600 it, or --tls-key-any-mode\n",
		       path, st.st_mode & 07777);
		goto out;
	}
	if (strstr((char *)d.data, "ENCRYPTED")) {
		pass = passphrase();
		if (!pass) {
			set_cr_errno(ENOKEY);
			pr_err("%s: an encrypted key, and no passphrase (--tls-key-pass-file or %s)\n", path, PASS_ENV);
			goto out;
		}
	}
	if (gnutls_x509_privkey_init(key) < 0)
		goto out;
	r = gnutls_x509_privkey_import2(*key, &d, GNUTLS_X509_FMT_PEM, pass, 0);
	if (r < 0 && !pass)
		r = gnutls_x509_privkey_import2(*key, &d, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN);
	if (r < 0) {
		set_cr_errno(ENOKEY);
		if (pass)
			pr_err("%s: can't decrypt the private key (wrong passphrase?): %s\n", path, gnutls_strerror(r));
		else
			pr_err("%s: not a private key\n", path);
		gnutls_x509_privkey_deinit(*key);
		goto out;
	}
	ret = 0;
out:
	free_pass(pass);
	free_file(&d);
	return ret;
}

/* The id of a key: SHA-256 of its DER SubjectPublicKeyInfo */
int crypt_cert_id(gnutls_x509_crt_t crt, uint8_t *kid)
{
	size_t len = CRYPT_HASH_LEN;

	if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, kid, &len) < 0 || len != CRYPT_HASH_LEN)
		return -1;
	return 0;
}

int crypt_key_id(gnutls_x509_privkey_t key, uint8_t *kid)
{
	size_t len = CRYPT_HASH_LEN;

	if (gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, kid, &len) < 0 || len != CRYPT_HASH_LEN)
		return -1;
	return 0;
}

/* The CA and CRL to verify against: those given, else CRIU's defaults if present (with dflt) */
static const char *ca_file(bool dflt)
{
	if (opts.tls_cacert)
		return opts.tls_cacert;
	return dflt && !access(CRYPT_DEFAULT_CACERT, F_OK) ? CRYPT_DEFAULT_CACERT : NULL;
}

static const char *crl_file(void)
{
	if (opts.tls_cacrl)
		return opts.tls_cacrl;
	return !access(CRYPT_DEFAULT_CACRL, F_OK) ? CRYPT_DEFAULT_CACRL : NULL;
}

/* The CA a dump verifies recipients against, or NULL */
const char *crypt_dump_ca(void)
{
	return ca_file(true);
}

/* The CA a restore verifies signatures against (given explicitly), or NULL */
const char *crypt_restore_ca(void)
{
	return ca_file(false);
}

/*
 * Whether chain (the certificate first, then intermediate CAs) chains to
 * the CA file ca, every certificate within its validity period and none
 * revoked by the CRL: 0, or -1 with a one-line error naming what.
 */
int crypt_chain_verify(const char *what, gnutls_x509_crt_t *chain, unsigned int nr, const char *ca)
{
	gnutls_x509_trust_list_t tl;
	const char *crl = crl_file();
	unsigned int status = 0;
	gnutls_datum_t out = {};
	int ret = -1, r;

	if (gnutls_x509_trust_list_init(&tl, 0) < 0)
		return -1;
	r = gnutls_x509_trust_list_add_trust_file(tl, ca, crl, GNUTLS_X509_FMT_PEM,
						  GNUTLS_TL_VERIFY_CRL | GNUTLS_TL_FAIL_ON_INVALID_CRL, 0);
	if (r <= 0) {
		set_cr_errno(ENOKEY);
		pr_err("%s: no CA certificate read (with the CRL %s): %s\n", ca, crl ?: "none",
		       r < 0 ? gnutls_strerror(r) : "empty");
		goto out;
	}
	r = gnutls_x509_trust_list_verify_crt2(tl, chain, nr, NULL, 0, 0, &status, NULL);
	if (r < 0 || status) {
		set_cr_errno(EKEYREJECTED);
		if (r >= 0)
			gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
		pr_err("%s: not trusted by %s%s%s: %s\n", what, ca, crl ? " and " : "", crl ?: "",
		       r < 0 ? gnutls_strerror(r) : (char *)out.data);
		gnutls_free(out.data);
		goto out;
	}
	ret = 0;
out:
	gnutls_x509_trust_list_deinit(tl, 1);
	return ret;
}

/* The subject of a certificate, for messages (xfree()'d), or NULL */
char *crypt_cert_subject(gnutls_x509_crt_t crt)
{
	gnutls_datum_t dn = {};
	char *s, *p;

	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0)
		return NULL;
	s = xstrdup((char *)dn.data);
	gnutls_free(dn.data);
	/* a name from an image goes into the log: one line, printable */
	for (p = s; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}
