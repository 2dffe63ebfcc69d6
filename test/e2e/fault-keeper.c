/*
 * The workload of t-faults.sh: a secret-keeper that can also hold what
 * makes each kind of image big, so that a dump into a small file system
 * runs out of space in the image the test chooses:
 *
 *   pages MIB     MIB MiB of anonymous memory, a pattern given by each
 *                 page's number (page images)
 *   ghost MIB DIR a file of MIB MiB made in DIR and deleted, kept open
 *                 (its contents go to a ghost-file image)
 *   pipe          a pipe grown to 1 MiB and full (pipes-data.img)
 *   fork          a child that keeps a copy of the secret (a tree)
 *
 * It counts, logging one line a tick with whether its secret is intact,
 * and on SIGUSR1 checks its secret, every page, the whole deleted file and
 * the pipe's contents (read out and written back), and writes "ok" or
 * what is wrong to RESULT_FILE.
 *
 * usage: fault-keeper SECRET_FILE LOG_FILE RESULT_FILE [pages MIB]
 *                     [ghost MIB DIR] [pipe] [fork]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "secret.h"
#include "keeper.h"

#define PIPE_SIZE (1 << 20)

#define MEM_SEED   0x6a09e667f3bcc908ULL
#define GHOST_SEED 0xbb67ae8584caa73bULL
#define PIPE_SEED  0x3c6ef372fe94f82bULL

int main(int argc, char **argv)
{
	size_t mem_pages = 0, ghost_pages = 0, p;
	int ghost = -1, pipefd[2] = { -1, -1 }, do_fork = 0, queued, i;
	unsigned long tick = 0;
	uint64_t buf[PAGE / 8];
	char *secret, *mem = NULL, path[4096];
	unsigned check;
	FILE *log, *f;

	if (argc < 4) {
		fprintf(stderr, "usage: %s SECRET_FILE LOG_FILE RESULT_FILE [pages MIB] [ghost MIB DIR] [pipe] [fork]\n",
			argv[0]);
		return 2;
	}
	secret = read_secret(argv[1]);
	check = secret_sum(secret);

	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "pages") && i + 1 < argc) {
			mem_pages = (size_t)atol(argv[++i]) << 20 >> 12;
		} else if (!strcmp(argv[i], "ghost") && i + 2 < argc) {
			ghost_pages = (size_t)atol(argv[++i]) << 20 >> 12;
			snprintf(path, sizeof(path), "%s/fault-ghost.XXXXXX", argv[++i]);
			ghost = mkstemp(path);
			if (ghost < 0) {
				perror(path);
				return 1;
			}
			for (p = 0; p < ghost_pages; p++) {
				pattern_fill(buf, GHOST_SEED, p);
				if (write(ghost, buf, PAGE) != PAGE) {
					perror(path);
					return 1;
				}
			}
			unlink(path);
		} else if (!strcmp(argv[i], "pipe")) {
			if (pipe2(pipefd, O_NONBLOCK) || fcntl(pipefd[1], F_SETPIPE_SZ, PIPE_SIZE) < PIPE_SIZE) {
				perror("pipe");
				return 1;
			}
			for (p = 0; p < PIPE_SIZE / PAGE; p++) {
				pattern_fill(buf, PIPE_SEED, p);
				if (write(pipefd[1], buf, PAGE) != PAGE) {
					perror("pipe");
					return 1;
				}
			}
		} else if (!strcmp(argv[i], "fork")) {
			do_fork = 1;
		} else {
			fprintf(stderr, "%s: unknown argument %s\n", argv[0], argv[i]);
			return 2;
		}
	}
	if (mem_pages) {
		mem = mmap(NULL, mem_pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		for (p = 0; p < mem_pages; p++)
			pattern_fill((uint64_t *)(mem + p * PAGE), MEM_SEED, p);
	}

	log = fopen(argv[2], "a");
	if (!log) {
		perror(argv[2]);
		return 1;
	}
	setvbuf(log, NULL, _IOLBF, 0);
	ask_on_usr1();
	if (do_fork && fork() == 0)
		for (;;)
			pause();

	for (;;) {
		if (check_now) {
			const char *what = "ok";

			check_now = 0;
			for (p = 0; p < mem_pages; p++)
				if (!pattern_same((uint64_t *)(mem + p * PAGE), MEM_SEED, p)) {
					what = "a page of memory is wrong";
					break;
				}
			for (p = 0; p < ghost_pages; p++)
				if (pread(ghost, buf, PAGE, p * PAGE) != PAGE || !pattern_same(buf, GHOST_SEED, p)) {
					what = "the deleted file is wrong";
					break;
				}
			/* the pipe is read out, checked and filled again */
			for (p = 0; pipefd[0] >= 0 && p < PIPE_SIZE / PAGE; p++) {
				if (read(pipefd[0], buf, PAGE) != PAGE || !pattern_same(buf, PIPE_SEED, p)) {
					what = "the pipe's data is wrong";
					break;
				}
				if (write(pipefd[1], buf, PAGE) != PAGE) {
					what = "the pipe can't be filled again";
					break;
				}
			}
			if (pipefd[0] >= 0 && (ioctl(pipefd[0], FIONREAD, &queued) || queued != PIPE_SIZE))
				what = "the pipe does not hold 1 MiB";
			if (secret_sum(secret) != check)
				what = "the secret is wrong";
			f = fopen(argv[3], "w");
			if (f) {
				fprintf(f, "%s\n", what);
				fclose(f);
			}
		}
		tick++;
		fprintf(log, "tick %lu: secret of %zu bytes %s\n", tick, strlen(secret),
			secret_sum(secret) == check ? "intact" : "CORRUPTED");
		usleep(100000);
	}
}
