/*
 * The page reader with its tags, as at restore: the harness makes a page
 * image "pages-1.img" of the input's pages under a fixed key and its
 * pagetags.img, either through the dump's page writer
 * (crypt_page_writer_add() from a pipe, in pieces) or with
 * crypt_pages_seal() and crypt_tags_record() in records the input cuts,
 * interleaved with records of another image; loads the tags
 * (crypt_tags_load(), crypt_tags_find()); may change the page image (a
 * byte of a page, pages cut off or added) or open it with another salt;
 * and reads it with crypt_page_reader_preadv() at offsets and lengths the
 * input chooses.  Input:
 *
 *   flags  bit 0 the page writer; bit 1 flip a byte; bit 2 more pages,
 *          with bit 5 many (up to 1280: the writer's two threads and its
 *          ring of 4 batches of 256); bit 3 pages cut off or added; bit 4
 *          another salt at restore
 *   pages  the number of pages: pages % 40, pages + 40, (pages + 1) * 5
 *   at, val  the byte flipped (u32, u8); delta (u8): pages cut or added
 *   cut    records: tags per record of the direct way (u8)
 *   reads  (% 8), each: iovcnt (% 5), offset mode (u8) and offset, then per
 *          iovec a length (pages u16 % 600, and bytes when asked)
 *   the bytes of the pages: the input after the header (the reads' bytes
 *   too), repeated, each page's index in its first 8 bytes
 *
 * Properties: a read succeeds exactly when its offset and every length
 * are whole pages, all of them have tags and are in the file, none was
 * changed and the salt is right; then it gives the plaintext pages; no
 * memory error, leak or UB; no hang.
 */
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuzz.h"

#define NAME	  "pages-1.img"
#define PAGE	  CRYPT_PAGE_SIZE
#define MAX_TOTAL (8 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

static const uint8_t salt[CRYPT_NONCE_LEN] = "fuzz-salt-16byte", salt2[CRYPT_NONCE_LEN] = "another-salt-16b";

/* The pages through the dump's writer, fed from a pipe in pieces of 1 to 16 pages */
static void write_with_writer(struct crypt_pages *cp, int pfd, struct crypt_stream *tags, uint8_t *plain,
			      size_t nr, size_t piece)
{
	struct page_writer *pw = crypt_page_writer_new(fuzz_ctx(), cp, NAME, salt, pfd, tags);
	size_t done = 0, n;
	int p[2];

	fuzz_assert(pw && !pipe(p));
	while (done < nr) {
		n = 1 + (piece + done) % 16;
		if (n > nr - done)
			n = nr - done;
		fuzz_assert(write(p[1], plain + done * PAGE, n * PAGE) == n * PAGE);
		fuzz_assert(!crypt_page_writer_add(pw, p[0], n * PAGE));
		done += n;
	}
	fuzz_assert(!crypt_page_writer_flush(pw));
	crypt_page_writer_free(pw);
	close(p[0]);
	close(p[1]);
}

/* The same with the page cipher and records the harness cuts, another image's between */
static void write_direct(struct crypt_pages *cp, int pfd, struct crypt_stream *tags, uint8_t *plain, size_t nr,
			 size_t cut)
{
	uint8_t *sealed = malloc(nr * PAGE + 1), *t = malloc(nr * CRYPT_TAG_LEN + 1), other[CRYPT_TAG_LEN] = {};
	size_t done = 0, n;

	memcpy(sealed, plain, nr * PAGE);
	fuzz_assert(!crypt_pages_seal(cp, 0, sealed, nr, t));
	fuzz_assert(pwrite(pfd, sealed, nr * PAGE, 0) == nr * PAGE);
	if (!nr)
		fuzz_assert(!crypt_tags_record(tags, NAME, salt, NULL, 0));
	while (done < nr) {
		n = cut ? cut : nr;
		if (n > nr - done)
			n = nr - done;
		fuzz_assert(!crypt_tags_record(tags, NAME, salt, t + done * CRYPT_TAG_LEN, n));
		fuzz_assert(!crypt_tags_record(tags, "pages-2.img", salt2, other, done & 1));
		done += n;
	}
	free(sealed);
	free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = in_u8(&in), npages = in_u8(&in), val, delta, cut, nreads;
	uint32_t at = in_u32(&in);
	size_t nr = (flags & 0x24) == 0x24 ? (npages + 1) * 5 : flags & 4 ? npages + 40 : npages % 40;
	size_t file_pages, i, r, have;
	const uint8_t *ftags, *fsalt, *rest;
	uint8_t *plain, bad_salt[CRYPT_NONCE_LEN];
	struct crypt_stream *ts_w, *ts_r;
	struct crypt_tagset *ts = NULL;
	struct crypt_pages *cp;
	struct page_reader *pr;
	int pfd, tfd;
	uint64_t fnr;
	long long flipped = -1;

	val = in_u8(&in) | 1;
	delta = in_u8(&in);
	cut = in_u8(&in);
	nreads = in_u8(&in) % 8;

	rest = in.p;
	plain = malloc(nr * PAGE + 1);
	/* the input's bytes again and again (0x5a without any), the page's index in its first 8 bytes */
	have = in.len < nr * PAGE ? in.len : nr * PAGE;
	memcpy(plain, rest, have);
	if (!have && nr)
		plain[have++] = 0x5a;
	while (have < nr * PAGE) {
		r = have < nr * PAGE - have ? have : nr * PAGE - have;
		memcpy(plain + have, plain, r);
		have += r;
	}
	for (i = 0; i < nr; i++)
		memcpy(plain + i * PAGE, &i, sizeof(i));

	/* the images */
	pfd = fuzz_memfd(NULL, 0);
	tfd = fuzz_memfd(NULL, 0);
	ts_w = crypt_stream_open_write(fuzz_ctx(), tfd, CRYPT_TAGS_IMG);
	cp = crypt_pages_new(fuzz_ctx(), NAME, salt);
	fuzz_assert(ts_w && cp);
	if (flags & 1)
		write_with_writer(cp, pfd, ts_w, plain, nr, cut);
	else
		write_direct(cp, pfd, ts_w, plain, nr, cut);
	fuzz_assert(!crypt_stream_close_write(ts_w));
	crypt_stream_free(ts_w);
	crypt_pages_free(cp);

	ts_r = crypt_stream_open_read(fuzz_ctx(), tfd, CRYPT_TAGS_IMG);
	fuzz_assert(ts_r && !crypt_tags_load(&ts, ts_r, CRYPT_TAGS_IMG));
	crypt_stream_free(ts_r);
	close(tfd);
	fuzz_assert(crypt_tags_find(ts, NAME, &fsalt, &ftags, &fnr));
	fuzz_assert(fnr == nr && !memcmp(fsalt, salt, sizeof(salt)));

	/* changes */
	file_pages = nr;
	if (flags & 2 && nr) {
		uint8_t b;

		flipped = at % (nr * PAGE);
		fuzz_assert(pread(pfd, &b, 1, flipped) == 1);
		b ^= val;
		fuzz_assert(pwrite(pfd, &b, 1, flipped) == 1);
	}
	if (flags & 8) {
		int d = (int)(delta % 5) - 2;

		file_pages = (long)nr + d < 0 ? 0 : nr + d;
		fuzz_assert(!ftruncate(pfd, file_pages * PAGE));
	}
	memcpy(bad_salt, fsalt, sizeof(bad_salt));
	bad_salt[0] ^= !!(flags & 16);
	cp = crypt_pages_new(fuzz_ctx(), NAME, bad_salt);
	pr = crypt_page_reader_new(cp, pfd, ftags, fnr);
	fuzz_assert(cp && pr);

	for (r = 0; r < nreads; r++) {
		int cnt = in_u8(&in) % 5, k;
		uint8_t mode = in_u8(&in);
		struct iovec iov[4];
		long long off, pos;
		size_t total = 0;
		bool want = true;
		ssize_t ret;

		if (mode & 0x80)
			off = (long long)((uint64_t)in_u32(&in) << 32 | in_u32(&in));
		else
			off = (long long)(int16_t)in_u16(&in) * PAGE + (mode & 0x40 ? (int16_t)in_u16(&in) : 0);
		pos = off;
		for (k = 0; k < cnt; k++) {
			size_t len = (in_u16(&in) % 600) * (size_t)PAGE + (mode & (1 << k) ? in_u16(&in) % PAGE : 0);

			if (total + len > MAX_TOTAL)
				len = 0;
			iov[k].iov_len = len;
			iov[k].iov_base = malloc(len ?: 1);
			total += len;
			if (!len || !want)
				continue;
			/* pos stays small while want holds: no overflow */
			if (pos < 0 || pos % PAGE || len % PAGE || pos / PAGE + len / PAGE > fnr ||
			    pos / PAGE + len / PAGE > file_pages || flags & 16 ||
			    (flipped >= 0 && flipped >= pos && flipped < pos + (long long)len))
				want = false;
			pos += len;
		}
		ret = crypt_page_reader_preadv(pr, iov, cnt, off);
		if (want) {
			fuzz_assert(ret == total);
			for (k = 0, pos = off; k < cnt; pos += iov[k].iov_len, k++)
				fuzz_assert(!iov[k].iov_len || !memcmp(iov[k].iov_base, plain + pos, iov[k].iov_len));
		} else {
			fuzz_assert(ret == -1);
		}
		for (k = 0; k < cnt; k++)
			free(iov[k].iov_base);
	}

	crypt_page_reader_free(pr);
	crypt_pages_free(cp);
	crypt_tags_free(ts);
	close(pfd);
	free(plain);
	return 0;
}
