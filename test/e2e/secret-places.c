/*
 * A process that keeps one secret in every place a checkpoint can carry
 * it: heap, stack, a thread's stack, environment, argv, a child process,
 * MAP_SHARED memory, a memfd, a pipe's unread buffer, a unix socket's
 * receive queue and an open deleted file.  Every tick it checks every copy
 * and logs "tick N: K of M copies intact"; the child logs its own check.
 *
 * usage: SECRET=s secret-places s DIR LOG
 *   (the secret in the environment and argv; DIR for the deleted file)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define PLACES 11

static const char *secret;
static size_t len;
static volatile int thread_ok = 1;

static int same(const void *p)
{
	return !memcmp(p, secret, len);
}

static void *thread_fn(void *arg)
{
	char on_stack[256];

	memcpy(on_stack, secret, len);
	for (;;) {
		thread_ok = same(on_stack);
		usleep(50000);
	}
	return arg;
}

/* read n bytes from fd at offset, or peek them */
static int fd_same(int fd, off_t off)
{
	char buf[256];

	return pread(fd, buf, len, off) == (ssize_t)len && same(buf);
}

int main(int argc, char **argv)
{
	char on_stack[256], buf[256], path[4096];
	int pipefd[2], sk[2], memfd, ghost;
	unsigned long tick = 0;
	char *heap, *shared;
	pthread_t thr;
	FILE *log;
	pid_t child;

	if (argc != 4 || !getenv("SECRET") || strcmp(getenv("SECRET"), argv[1])) {
		fprintf(stderr, "usage: SECRET=s %s s DIR LOG\n", argv[0]);
		return 2;
	}
	secret = argv[1];
	len = strlen(secret);
	log = fopen(argv[3], "a");
	if (!log || len > 200)
		return 1;
	setvbuf(log, NULL, _IOLBF, 0);

	heap = strdup(secret);
	memcpy(on_stack, secret, len);
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	memcpy(shared, secret, len);
	memfd = memfd_create("secret", 0);
	if (memfd < 0 || write(memfd, secret, len) != (ssize_t)len)
		return 1;
	if (pipe(pipefd) || write(pipefd[1], secret, len) != (ssize_t)len)
		return 1;
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sk) || send(sk[0], secret, len, 0) != (ssize_t)len)
		return 1;
	snprintf(path, sizeof(path), "%s/deleted-secret", argv[2]);
	ghost = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (ghost < 0 || write(ghost, secret, len) != (ssize_t)len || unlink(path))
		return 1;
	if (pthread_create(&thr, NULL, thread_fn, NULL))
		return 1;

	child = fork();
	if (child == 0) {
		char *copy = strdup(secret);

		for (;;) {
			fprintf(log, "child: copy %s\n", same(copy) ? "intact" : "CORRUPTED");
			sleep(1);
		}
	}

	for (;;) {
		int ok = 0;

		tick++;
		ok += same(heap);
		ok += same(on_stack);
		ok += thread_ok;
		ok += getenv("SECRET") && same(getenv("SECRET"));
		ok += same(argv[1]);
		ok += kill(child, 0) == 0;
		ok += same(shared);
		ok += fd_same(memfd, 0);
		/* the pipe: read it out and put it back */
		if (read(pipefd[0], buf, len) == (ssize_t)len) {
			ok += same(buf);
			if (write(pipefd[1], buf, len) != (ssize_t)len)
				ok--;
		}
		ok += recv(sk[1], buf, len, MSG_PEEK | MSG_DONTWAIT) == (ssize_t)len && same(buf);
		ok += fd_same(ghost, 0);
		fprintf(log, "tick %lu: %d of %d copies intact\n", tick, ok, PLACES);
		usleep(100000);
	}
}
