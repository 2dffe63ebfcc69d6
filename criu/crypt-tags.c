/*
 * pagetags.img: the salt and tags of every page image of a checkpoint,
 * as records "L || name || salt || k || k tags"
 * (Documentation/encryption-format.txt).  The dump's page writer appends
 * a record per batch written, so the tags of an image are those of its
 * records, in order; images may interleave.  A restore reads the whole
 * of it (and of every pagetags-<id>.img) once, before criu forks.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "common/compiler.h"
#include "common/xmalloc.h"
#include "crypt-private.h"

#define REC_HDR_MAX (1 + 255 + CRYPT_NONCE_LEN + 4)

int crypt_tags_record(struct crypt_stream *cs, const char *name, const uint8_t *salt, const uint8_t *tags,
		      uint32_t nr)
{
	uint8_t hdr[REC_HDR_MAX];
	size_t l = strlen(name);
	uint32_t k = htobe32(nr);

	if (!l || l > 255) {
		pr_err("%s: a name too long for %s\n", name, CRYPT_TAGS_IMG);
		return -1;
	}
	hdr[0] = l;
	memcpy(hdr + 1, name, l);
	memcpy(hdr + 1 + l, salt, CRYPT_NONCE_LEN);
	memcpy(hdr + 1 + l + CRYPT_NONCE_LEN, &k, 4);
	if (crypt_stream_write(cs, hdr, 1 + l + CRYPT_NONCE_LEN + 4) ||
	    crypt_stream_write(cs, tags, (size_t)nr * CRYPT_TAG_LEN))
		return -1;
	return 0;
}

struct image_tags {
	char *name;
	uint8_t salt[CRYPT_NONCE_LEN];
	uint8_t *tags;
	uint64_t nr;
};

/* Restore: the page images of a checkpoint, sorted by name */
struct crypt_tagset {
	struct image_tags *img;
	size_t nr;
};

/* A record, as found in the plaintext */
struct tag_record {
	const uint8_t *name; /* L bytes */
	const uint8_t *salt;
	const uint8_t *tags;
	size_t len, at; /* L; its place in the plaintext */
	uint32_t k;
};

void crypt_tags_free(struct crypt_tagset *ts)
{
	size_t i;

	if (!ts)
		return;
	for (i = 0; i < ts->nr; i++) {
		xfree(ts->img[i].name);
		xfree(ts->img[i].tags);
	}
	xfree(ts->img);
	xfree(ts);
}

static int cmp_record_names(const struct tag_record *a, const struct tag_record *b)
{
	int c = memcmp(a->name, b->name, min(a->len, b->len));

	return c ?: (a->len > b->len) - (a->len < b->len);
}

/* by name, and in file order within a name */
static int cmp_records(const void *x, const void *y)
{
	const struct tag_record *a = x, *b = y;

	return cmp_record_names(a, b) ?: (a->at > b->at) - (a->at < b->at);
}

/*
 * The records of p[0..size) in r[] (*nr): 0, or -1 when out of memory or
 * when a record is malformed, whose offset is then in *bad.
 */
static int split_records(const uint8_t *p, off_t size, struct tag_record **r, size_t *nr, off_t *bad)
{
	size_t max = 0, hdr;
	struct tag_record *n;
	off_t off = 0;
	uint32_t be;

	*r = NULL;
	*nr = 0;
	while (off < size) {
		if (!p[off] || size - off < 1 + p[off] + CRYPT_NONCE_LEN + 4)
			goto malformed;
		if (*nr == max) {
			n = xrealloc(*r, (max * 2 + 64) * sizeof(*n));
			if (!n)
				return -1;
			*r = n;
			max = max * 2 + 64;
		}
		n = &(*r)[(*nr)++];
		n->len = p[off];
		n->name = p + off + 1;
		n->salt = n->name + n->len;
		hdr = 1 + n->len + CRYPT_NONCE_LEN + 4;
		memcpy(&be, n->salt + CRYPT_NONCE_LEN, 4);
		n->k = be32toh(be);
		n->tags = p + off + hdr;
		n->at = off;
		if (memchr(n->name, '\0', n->len) || n->k > (size - off - hdr) / CRYPT_TAG_LEN)
			goto malformed;
		off += hdr + (size_t)n->k * CRYPT_TAG_LEN;
	}
	return 0;
malformed:
	*bad = off;
	return -1;
}

/*
 * The records r[0..nr) of one name, in order, as one image: 0, or -1 when
 * out of memory or when a record has another salt, whose offset is then
 * in *bad.
 */
static int merge_records(struct image_tags *t, const struct tag_record *r, size_t nr, off_t *bad)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < nr; i++) {
		if (memcmp(r[i].salt, r[0].salt, CRYPT_NONCE_LEN)) {
			*bad = r[i].at;
			return -1;
		}
		total += r[i].k;
	}
	t->name = xmalloc(r[0].len + 1);
	t->tags = xmalloc(total * CRYPT_TAG_LEN ?: 1);
	if (!t->name || !t->tags)
		return -1;
	memcpy(t->name, r[0].name, r[0].len);
	t->name[r[0].len] = '\0';
	memcpy(t->salt, r[0].salt, CRYPT_NONCE_LEN);
	for (i = 0; i < nr; i++) {
		memcpy(t->tags + t->nr * CRYPT_TAG_LEN, r[i].tags, (size_t)r[i].k * CRYPT_TAG_LEN);
		t->nr += r[i].k;
	}
	return 0;
}

static int cmp_images(const void *a, const void *b)
{
	return strcmp(((const struct image_tags *)a)->name, ((const struct image_tags *)b)->name);
}

/*
 * Restore: the records of the tags image name (cs), read whole, gathered
 * by page image, added to *ts (a new set when NULL); the caller frees *ts.
 */
int crypt_tags_load(struct crypt_tagset **ts, struct crypt_stream *cs, const char *name)
{
	off_t size = crypt_stream_size(cs), bad = -1;
	struct tag_record *r = NULL;
	struct image_tags *img;
	uint8_t *buf = NULL;
	size_t nr, i, j, n;
	int ret = -1;

	if (!*ts && !(*ts = xzalloc(sizeof(**ts))))
		return -1;
	buf = xmalloc(size ?: 1);
	if (!buf || crypt_stream_read(cs, buf, size) != size)
		goto out;
	if (split_records(buf, size, &r, &nr, &bad))
		goto malformed;
	if (nr)
		qsort(r, nr, sizeof(*r), cmp_records);
	img = xrealloc((*ts)->img, ((*ts)->nr + nr + 1) * sizeof(*img));
	if (!img)
		goto out;
	(*ts)->img = img;
	for (i = 0; i < nr; i = j) {
		for (j = i + 1; j < nr && !cmp_record_names(&r[i], &r[j]); j++)
			;
		memset(&img[(*ts)->nr], 0, sizeof(*img));
		if (merge_records(&img[(*ts)->nr++], r + i, j - i, &bad))
			goto malformed;
	}
	/* all the records of a page image are in one tags image */
	n = (*ts)->nr;
	qsort(img, n, sizeof(*img), cmp_images);
	for (i = 1; i < n; i++)
		if (!strcmp(img[i - 1].name, img[i].name)) {
			pr_err("%s: tags of %s, which another tags image has\n", name, img[i].name);
			goto out;
		}
	ret = 0;
	goto out;
malformed:
	/* out of memory was said by xmalloc() */
	if (bad >= 0)
		pr_err("%s: malformed at byte %lld of its plaintext\n", name, (long long)bad);
out:
	xfree(r);
	xfree(buf);
	return ret;
}

static int cmp_image_names(const void *key, const void *t)
{
	return strcmp(key, ((const struct image_tags *)t)->name);
}

/* The salt and the nr tags of the page image name; false when it has none */
bool crypt_tags_find(const struct crypt_tagset *ts, const char *name, const uint8_t **salt, const uint8_t **tags,
		     uint64_t *nr)
{
	const struct image_tags *t = bsearch(name, ts->img, ts->nr, sizeof(*t), cmp_image_names);

	if (!t)
		return false;
	*salt = t->salt;
	*tags = t->tags;
	*nr = t->nr;
	return true;
}
