/*
 * The harnesses' shared helpers.  What the encryption module needs of
 * criu is test/unit/stub.c's (the log, silent unless FUZZ_VERBOSE=1).
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/sha2.h>

#include "log.h"
#include "fuzz.h"

/* criu's log (test/unit/stub.c): silent unless FUZZ_VERBOSE=1 */
extern bool stub_log_quiet;

void fuzz_init(void)
{
	stub_log_quiet = !(getenv("FUZZ_VERBOSE") && atoi(getenv("FUZZ_VERBOSE")));
	if (crypt_init())
		abort();
}

/* The path of a file of the test keys */
const char *fuzz_pki(const char *file)
{
	static char path[4096];
	const char *dir = getenv("FUZZ_PKI") ?: FUZZ_PKI_DIR;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return path;
}

/*
 * The id of the key of the test certificate file (section 4 of the
 * format): the SHA-256 of its DER SubjectPublicKeyInfo, computed here
 */
void fuzz_cert_id(const char *file, uint8_t *kid)
{
	gnutls_x509_crt_t crt;
	gnutls_pubkey_t pub;
	gnutls_datum_t d, der;
	struct sha256_ctx h;

	if (gnutls_load_file(fuzz_pki(file), &d) < 0 || gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0 || gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_x509(pub, crt, 0) < 0 || gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) < 0) {
		fprintf(stderr, "fuzz: can't read the key of %s\n", fuzz_pki(file));
		abort();
	}
	sha256_init(&h);
	sha256_update(&h, der.size, der.data);
	sha256_digest(&h, SHA256_DIGEST_SIZE, kid);
	gnutls_free(der.data);
	gnutls_free(d.data);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
}

/* A checkpoint's keys under a fixed checkpoint key and id */
struct crypt_ctx *fuzz_ctx(void)
{
	static struct crypt_ctx ctx;
	static bool done;
	uint8_t key[CRYPT_KEY_LEN];
	int i;

	if (!done) {
		for (i = 0; i < CRYPT_KEY_LEN; i++)
			key[i] = 0xa0 + i;
		for (i = 0; i < CRYPT_ID_LEN; i++)
			ctx.id[i] = 0x10 + i;
		crypt_ctx_key(&ctx, key);
		done = true;
	}
	return &ctx;
}

/* A memfd holding buf, its offset at 0 */
int fuzz_memfd(const void *buf, size_t len)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0 || (len && write_all(fd, buf, len) != (ssize_t)len) || lseek(fd, 0, SEEK_SET)) {
		perror("fuzz: memfd");
		abort();
	}
	return fd;
}

/* All of the file fd (malloc'd, at least one byte) */
void *fuzz_file(int fd, size_t *len)
{
	struct stat st;
	uint8_t *buf;

	if (fstat(fd, &st))
		abort();
	buf = malloc(st.st_size + 1);
	if (!buf || pread(fd, buf, st.st_size, 0) != st.st_size)
		abort();
	*len = st.st_size;
	return buf;
}

/* buf sealed as the image name under ctx, in a new memfd */
int fuzz_seal(const struct crypt_ctx *ctx, const char *name, const void *buf, size_t len)
{
	int fd = fuzz_memfd(NULL, 0);
	struct crypt_stream *s = crypt_stream_open_write(ctx, fd, name);

	if (!s || crypt_stream_write(s, buf, len) || crypt_stream_close_write(s))
		abort();
	crypt_stream_free(s);
	return fd;
}
