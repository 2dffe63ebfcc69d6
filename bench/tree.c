/*
 * The many-small-images workload: a tree of N processes (each has up to
 * FANOUT children), each linked to its parent by a pipe and by a unix
 * stream socket pair, with a few bytes queued in both.  Little memory, but
 * criu writes several small images per process (core, mm, pagemap, pages,
 * ids, fs ...) plus the pipes, their data and the socket queues: thousands
 * of small images for a few hundred processes.
 *
 * READY appears once all N processes run.  On SIGUSR1 the root passes the
 * signal down the tree; each process reads back the bytes its parent
 * queued for it in the pipe and in the socket, and the root writes
 * "ok N" (or "bad ...") to RESULT once every process has answered.
 *
 *   tree N READY RESULT
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include "workload.h"

#define FANOUT 4
#define MSG    16

struct counters {
	int started, good, bad;
};

static struct counters *cnt; /* shared by the whole tree */
static int idx, nproc;
static int up_pipe = -1, up_sock = -1;		    /* from the parent */
static int down_pipe[FANOUT], down_sock[FANOUT];    /* to the children */
static pid_t kids[FANOUT];
static int nkids;

static void message(char *buf, char kind, int i)
{
	memset(buf, 0, MSG);
	snprintf(buf, MSG, "%c%d", kind, i);
}

static int read_back(int fd, char kind)
{
	char want[MSG], got[MSG];

	message(want, kind, idx);
	return read(fd, got, MSG) == MSG && !memcmp(got, want, MSG);
}

/* Become process number i: drop the parent's links but the one to us. */
static void become(int i, int pipe_rd, int sock)
{
	int k;

	for (k = 0; k < nkids; k++) {
		close(down_pipe[k]);
		close(down_sock[k]);
	}
	if (up_pipe >= 0) {
		close(up_pipe);
		close(up_sock);
	}
	idx = i;
	nkids = 0;
	up_pipe = pipe_rd;
	up_sock = sock;
}

/*
 * Fork the children of process idx.  Returns 0 in the process itself once
 * its children run, 1 in a new process (which goes on to main's loop),
 * -1 on error.
 */
static int spawn_children(void)
{
	char buf[MSG];
	int k;

	for (k = 0; k < FANOUT; k++) {
		int c = FANOUT * idx + 1 + k, p[2], s[2];
		pid_t pid;

		if (c >= nproc)
			break;
		/* Non-blocking reads: a lost byte is a "bad", not a hang. */
		if (pipe2(p, O_NONBLOCK) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s))
			return -1;
		pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			close(p[1]);
			close(s[0]);
			become(c, p[0], s[1]);
			/* 1 from below: a descendant, counted already, unwinding */
			switch (spawn_children()) {
			case 0:
				__atomic_add_fetch(&cnt->started, 1, __ATOMIC_SEQ_CST);
				return 1;
			case 1:
				return 1;
			default:
				_exit(1);
			}
		}
		close(p[0]);
		close(s[1]);
		message(buf, 'p', c);
		if (write(p[1], buf, MSG) != MSG)
			return -1;
		message(buf, 's', c);
		if (write(s[0], buf, MSG) != MSG)
			return -1;
		down_pipe[nkids] = p[1];
		down_sock[nkids] = s[0];
		kids[nkids++] = pid;
	}
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	char line[64];
	int k, ms;

	if (argc != 4) {
		fprintf(stderr, "usage: %s N READY RESULT\n", argv[0]);
		return 2;
	}
	nproc = atoi(argv[1]);
	cnt = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (nproc < 1 || cnt == MAP_FAILED)
		return 1;
	catch_usr1();

	k = spawn_children();
	if (k < 0) {
		perror("tree");
		return 1;
	}
	if (idx == 0) {
		for (ms = 0; cnt->started < nproc - 1 && ms < 60000; ms++)
			sleep_ms(1);
		snprintf(line, sizeof(line), cnt->started == nproc - 1 ? "ready\n" : "failed\n");
		put_status(argv[2], line);
	}

	for (;;) {
		wait_for_check();
		for (k = 0; k < nkids; k++)
			kill(kids[k], SIGUSR1);
		if (idx != 0) {
			int ok = read_back(up_pipe, 'p') & read_back(up_sock, 's');

			__atomic_add_fetch(ok ? &cnt->good : &cnt->bad, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		for (ms = 0; cnt->good + cnt->bad < nproc - 1 && ms < 30000; ms++)
			sleep_ms(1);
		if (cnt->good == nproc - 1)
			snprintf(line, sizeof(line), "ok %d\n", nproc);
		else
			snprintf(line, sizeof(line), "bad %d good %d bad of %d\n", cnt->good, cnt->bad, nproc);
		put_status(argv[3], line);
	}
}
