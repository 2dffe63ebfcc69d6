/*
 * What a page fault costs on this machine: the first touch of each page
 * of fresh anonymous memory, and the first read of a file mapping (code of
 * a binary or library, which the kernel maps 64 KiB around the fault, so
 * one read every 64 KiB).  On a virtual machine both can cost far more than
 * on bare metal, and a restore of many small processes is mostly such
 * work: every restored task faults in what it touches anew.
 *
 *   faultcost FILE
 *
 * prints, medians of 5 rounds:
 *   anon-fault US us
 *   file-fault US us
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS	  5
#define ANON_SIZE (64 << 20)
#define AROUND	  (64 << 10)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v)
{
	qsort(v, ROUNDS, sizeof(*v), cmp);
	return v[ROUNDS / 2];
}

int main(int argc, char **argv)
{
	double anon[ROUNDS], file[ROUNDS], t;
	volatile char sum = 0;
	struct stat st;
	size_t len, o;
	char *p;
	int fd, r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[1]);
		return 1;
	}
	len = st.st_size & ~(size_t)(AROUND - 1);
	if (len < 16 * AROUND) {
		fprintf(stderr, "%s: too small\n", argv[1]);
		return 1;
	}
	/* in the page cache, as a binary that runs is */
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (o = 0; o < len; o += 4096)
		sum += p[o];
	munmap(p, len);

	for (r = 0; r < ROUNDS; r++) {
		p = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		t = now();
		for (o = 0; o < len; o += AROUND)
			sum += p[o];
		file[r] = (now() - t) / (len / AROUND) * 1e6;
		munmap(p, len);

		p = mmap(NULL, ANON_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		/* small pages, as the restored tasks fault in */
		madvise(p, ANON_SIZE, MADV_NOHUGEPAGE);
		t = now();
		for (o = 0; o < ANON_SIZE; o += 4096)
			p[o] = 1;
		anon[r] = (now() - t) / (ANON_SIZE / 4096) * 1e6;
		munmap(p, ANON_SIZE);
	}
	printf("anon-fault %.2f us\n", median(anon));
	printf("file-fault %.2f us\n", median(file));
	return 0;
}
