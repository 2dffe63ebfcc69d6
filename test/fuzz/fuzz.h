/*
 * Shared by the libFuzzer harnesses of the encryption module (test/fuzz):
 * a checkpoint context under a fixed key, memfds that hold the bytes a
 * harness makes, a reader of the fuzz input, and the harnesses' own
 * assertion, which aborts, so that libFuzzer keeps the input as a crash.
 */
#ifndef __FUZZ_H__
#define __FUZZ_H__

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "crypt-private.h"

/* Where the test keys are (test/pki/make-keys.sh); FUZZ_PKI overrides. */
#ifndef FUZZ_PKI_DIR
#define FUZZ_PKI_DIR "build/pki"
#endif

/* A property of the module that a harness checks failed: a finding. */
#define fuzz_assert(cond)                                                                            \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "fuzz: %s:%d: %s does not hold\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

/* stub.c */
extern ssize_t read_all(int fd, void *buf, size_t size);
extern ssize_t write_all(int fd, const void *buf, size_t size);
extern void fuzz_init(void);
extern const char *fuzz_pki(const char *file);
extern void fuzz_cert_id(const char *file, uint8_t *kid);
extern struct crypt_ctx *fuzz_ctx(void);
extern int fuzz_memfd(const void *buf, size_t len);
extern void *fuzz_file(int fd, size_t *len);
extern int fuzz_seal(const struct crypt_ctx *ctx, const char *name, const void *buf, size_t len);

/* Reads the fuzz input front to back; past its end every value is 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t len;
};

static inline uint8_t in_u8(struct fuzz_in *in)
{
	uint8_t v = 0;

	if (in->len) {
		v = *in->p++;
		in->len--;
	}
	return v;
}

/* little-endian; the reads are sequenced (the operands of | are not) */
static inline uint32_t in_u16(struct fuzz_in *in)
{
	uint32_t lo = in_u8(in);

	return lo | (uint32_t)in_u8(in) << 8;
}

static inline uint32_t in_u32(struct fuzz_in *in)
{
	uint32_t lo = in_u16(in);

	return lo | in_u16(in) << 16;
}

/* up to n bytes of the input; *got says how many */
static inline const uint8_t *in_bytes(struct fuzz_in *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;

	if (n > in->len)
		n = in->len;
	in->p += n;
	in->len -= n;
	*got = n;
	return p;
}

#endif
