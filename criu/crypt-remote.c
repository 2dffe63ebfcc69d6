/*
 * What a page server stores of an encrypted dump.  The page server never
 * has a key, and needs none: the dump sends it the pages already sealed
 * for the page image the server names (pages-<id>.img, the id in the
 * answer to PS_IOV_OPEN3), the tags into the dump's own pagetags.img; and
 * it keeps a copy of the pagemap image the server writes, made by the same
 * code, whose SHA-256 its manifest lists with the pagemap's name.  A
 * restore then reads the server's files with the dump's, and no byte of
 * them unchecked (crypt-image.c).  See "Page servers" in
 * Documentation/encryption-format.txt.
 */
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <nettle/sha2.h>

#include "cr_options.h"
#include "image.h"
#include "image-desc.h"
#include "log.h"
#include "servicefd.h"
#include "tls.h"
#include "util.h"
#include "common/xmalloc.h"
#include "crypt-private.h"

struct crypt_remote {
	struct cr_img *pagemap; /* the copy of the server's pagemap image */
	struct crypt_pages *pages;
	struct page_writer *pw;
	int tags_fd;		       /* in a helper process: its pagetags-<id>.img */
	struct crypt_stream *own_tags; /* ... and its stream */
	char pagemap_name[NAME_MAX + 1];
	char pages_name[NAME_MAX + 1];
};

/* Sealed pages to a page server under TLS */
static int send_tls(int fd, const void *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = tls_send(buf, len, 0);
		if (n < 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

static void remote_free(struct crypt_remote *r)
{
	crypt_page_writer_free(r->pw);
	crypt_pages_free(r->pages);
	if (r->own_tags)
		crypt_stream_free(r->own_tags);
	close_safe(&r->tags_fd);
	if (r->pagemap)
		close_image(r->pagemap);
	xfree(r);
}

/* Dump: the page server on sk writes the pagemap image of type and id, with pages-<pages_id>.img */
struct crypt_remote *crypt_remote_open(int sk, int type, unsigned long id, uint32_t pages_id)
{
	int dfd = get_service_fd(IMG_FD_OFF);
	uint8_t salt[CRYPT_NONCE_LEN];
	struct crypt_stream *tags;
	struct crypt_remote *r;
	struct crypt_ctx *ctx;
	struct crypt_dir *d;

	if (crypt_dir_lookup(dfd, &d))
		return NULL;
	ctx = crypt_dir_ctx(d);
	if (!ctx) {
		pr_err("The images directory is not being encrypted\n");
		return NULL;
	}
	r = xzalloc(sizeof(*r));
	if (!r)
		return NULL;
	r->tags_fd = -1;
	snprintf(r->pagemap_name, sizeof(r->pagemap_name), imgset_template[type].fmt, id);
	snprintf(r->pages_name, sizeof(r->pages_name), imgset_template[CR_FD_PAGES].fmt, pages_id);
	tags = crypt_dir_tags_writer(dfd, d, &r->tags_fd, r->pages_name);
	if (!tags || crypt_random(salt, sizeof(salt)))
		goto err;
	if (r->tags_fd >= 0)
		r->own_tags = tags;
	r->pages = crypt_pages_new(ctx, r->pages_name, salt);
	if (!r->pages)
		goto err;
	r->pw = crypt_page_writer_new(ctx, r->pages, r->pages_name, salt, sk, tags);
	if (!r->pw)
		goto err;
	if (opts.tls)
		crypt_page_writer_out(r->pw, send_tls);
	r->pagemap = img_memfd(type);
	if (!r->pagemap)
		goto err;
	pr_info("%s and %s go to the page server, encrypted\n", r->pagemap_name, r->pages_name);
	return r;
err:
	remote_free(r);
	crypt_dir_note_failed();
	return NULL;
}

/* Where the copy of the server's pagemap image is written */
struct cr_img *crypt_remote_pagemap(struct crypt_remote *r)
{
	return r->pagemap;
}

/* Dump: len bytes of pages from the pipe p, sealed, to the page server: all of them before what follows */
int crypt_remote_pages(struct crypt_remote *r, int p, unsigned long len)
{
	if (crypt_page_writer_add(r->pw, p, len) || crypt_page_writer_sync(r->pw)) {
		crypt_dir_note_failed();
		return -1;
	}
	return 0;
}

/* The SHA-256 of the copy of the pagemap image, in hex */
static int pagemap_digest(struct crypt_remote *r, char *hex)
{
	int fd = img_raw_fd(r->pagemap);
	uint8_t digest[CRYPT_HASH_LEN];
	off_t len = lseek(fd, 0, SEEK_END);
	int i;

	if (len < 0) {
		pr_perror("%s: can't seek its copy", r->pagemap_name);
		return -1;
	}
	if (crypt_copy_hashed(fd, -1, len, digest, r->pagemap_name))
		return -1;
	for (i = 0; i < CRYPT_HASH_LEN; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	return 0;
}

/*
 * Dump: the page server has the whole pagemap image: the manifest lists
 * it with its digest, and the page image.
 */
void crypt_remote_close(struct crypt_remote *r)
{
	char line[NAME_MAX + 2 + 2 * CRYPT_HASH_LEN + 1];
	int ret;

	if (!r)
		return;
	ret = crypt_page_writer_flush(r->pw);
	if (!ret && r->own_tags)
		ret = crypt_stream_close_write(r->own_tags);
	if (!ret) {
		ret = snprintf(line, sizeof(line), "%s ", r->pagemap_name) >= sizeof(line) ||
		      pagemap_digest(r, line + strlen(line));
	}
	if (ret) {
		pr_err("%s: can't vouch for what the page server stores\n", r->pagemap_name);
		crypt_dir_note_failed();
	} else {
		crypt_dir_note_written(line);
		crypt_dir_note_written(r->pages_name);
	}
	remote_free(r);
}
