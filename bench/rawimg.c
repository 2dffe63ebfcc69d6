/*
 * The raw-image-heavy workload: a process holding a file of MIB MiB that
 * is open but deleted (criu copies its content into a ghost-file image) and
 * NPIPES pipes whose buffers, grown to 1 MiB each, are full (criu copies
 * them into pipes-data.img).  These are raw images: with --encrypt their
 * bytes go through the authenticated stream, not the page cipher.  Its own
 * memory is small.  The file is made in DIR, on the same file system as
 * the checkpoint.
 *
 * On SIGUSR1 (sent to the restored copy) it reads the whole file and
 * drains every pipe, checks them against the stream, and writes "ok" or
 * "bad" to RESULT.
 *
 *   rawimg DIR MIB NPIPES READY RESULT
 */
#include <stdlib.h>

#include "workload.h"

#define FILE_SEED 0x2545f4914f6cdd1dULL
#define PIPE_SEED 0x9e3779b97f4a7c15ULL
#define PIPE_SIZE (1 << 20)
#define BUF	  (1 << 20)

int main(int argc, char **argv)
{
	static uint64_t buf[BUF / 8];
	int fd, npipes, i, (*pipes)[2];
	char path[4096];
	size_t len, off;
	uint64_t s;

	if (argc != 6) {
		fprintf(stderr, "usage: %s DIR MIB NPIPES READY RESULT\n", argv[0]);
		return 2;
	}
	len = (size_t)atol(argv[2]) << 20;
	npipes = atoi(argv[3]);
	pipes = calloc(npipes, sizeof(*pipes));

	snprintf(path, sizeof(path), "%s/rawimg-ghost.XXXXXX", argv[1]);
	fd = mkstemp(path);
	if (fd < 0 || !pipes) {
		perror(path);
		return 1;
	}
	s = FILE_SEED;
	for (off = 0; off < len; off += BUF) {
		xs_fill(buf, BUF, &s);
		if (write(fd, buf, BUF) != BUF) {
			perror("write");
			return 1;
		}
	}
	unlink(path);

	/* Full pipes: non-blocking, so filling stops where the buffer ends. */
	s = PIPE_SEED;
	for (i = 0; i < npipes; i++) {
		if (pipe2(pipes[i], O_NONBLOCK) || fcntl(pipes[i][1], F_SETPIPE_SZ, PIPE_SIZE) < PIPE_SIZE) {
			perror("pipe");
			return 1;
		}
		xs_fill(buf, PIPE_SIZE, &s);
		if (write(pipes[i][1], buf, PIPE_SIZE) != PIPE_SIZE) {
			perror("fill pipe");
			return 1;
		}
	}
	catch_usr1();
	put_status(argv[4], "ready\n");

	for (;;) {
		int ok = 1;

		wait_for_check();
		s = FILE_SEED;
		for (off = 0; off < len; off += BUF)
			ok &= pread(fd, buf, BUF, off) == BUF && xs_check(buf, BUF, &s);
		s = PIPE_SEED;
		for (i = 0; i < npipes; i++) {
			ok &= read(pipes[i][0], buf, PIPE_SIZE) == PIPE_SIZE && xs_check(buf, PIPE_SIZE, &s);
			ok &= read(pipes[i][0], buf, 1) < 0; /* and nothing more */
		}
		put_status(argv[5], ok ? "ok\n" : "bad\n");
	}
}
