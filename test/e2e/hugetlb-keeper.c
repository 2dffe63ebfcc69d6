/*
 * Private hugetlb memory holding a secret, for t-hugetlb.sh:
 * hugetlb-keeper SECRET_FILE READY RESULT.  It maps 4 MiB of private
 * anonymous hugetlb memory (two 2 MiB huge pages), puts the secret at its
 * start and words that follow from their place after it.  READY appears
 * once it is filled; on SIGUSR1 (sent to the restored copy) it checks the
 * whole mapping, and the secret's copy on its heap, and writes "ok", or
 * what differs, to RESULT.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>

#include "secret.h"
#include "keeper.h"

#define SIZE (4UL << 20)

static uint64_t word(unsigned long i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;

	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	return x;
}

int main(int argc, char **argv)
{
	unsigned long i, first;
	size_t len, words;
	uint64_t *mem;
	char *secret, msg[128];
	unsigned sum;

	if (argc != 4) {
		fprintf(stderr, "usage: %s SECRET_FILE READY RESULT\n", argv[0]);
		return 2;
	}
	secret = read_secret(argv[1]);
	sum = secret_sum(secret);
	len = strlen(secret) + 1;
	mem = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (mem == MAP_FAILED) {
		perror("hugetlb-keeper: mmap (are there free huge pages?)");
		return 1;
	}
	memcpy(mem, secret, len);
	first = (len + 7) / 8;
	words = SIZE / 8;
	for (i = first; i < words; i++)
		mem[i] = word(i);
	ask_on_usr1();
	put(argv[2], "ready\n");
	for (;;) {
		wait_usr1();
		for (i = first; i < words && mem[i] == word(i); i++)
			;
		if (secret_sum(secret) != sum)
			snprintf(msg, sizeof(msg), "bad: the secret on the heap differs\n");
		else if (memcmp(mem, secret, len))
			snprintf(msg, sizeof(msg), "bad: the secret at the start of the mapping differs\n");
		else if (i < words)
			snprintf(msg, sizeof(msg), "bad: the mapping differs from byte %lu\n", i * 8);
		else
			snprintf(msg, sizeof(msg), "ok\n");
		put(argv[3], msg);
	}
}
