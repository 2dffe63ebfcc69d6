/*
 * A System V shared memory segment holding a secret, for t-shm.sh:
 * shm-keeper SECRET READY RESULT.  Run in an IPC namespace of its own, so
 * that criu dumps the segment (from a helper process inside that
 * namespace).  The segment is 64 KiB: the secret at its start, a counter
 * pattern after it.  READY appears once it is filled; on SIGUSR1 (sent to
 * the restored copy) it writes "ok" or "bad" to RESULT.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "keeper.h"

#define SIZE (64 << 10)

int main(int argc, char **argv)
{
	size_t len, i;
	char *mem;
	int id;

	if (argc != 4) {
		fprintf(stderr, "usage: %s SECRET READY RESULT\n", argv[0]);
		return 2;
	}
	len = strlen(argv[1]);
	id = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
	mem = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
	if (mem == (void *)-1) {
		perror("shm");
		return 1;
	}
	memcpy(mem, argv[1], len);
	for (i = len; i < SIZE; i++)
		mem[i] = i * 7 + 1;
	ask_on_usr1();
	put(argv[2], "ready\n");
	for (;;) {
		wait_usr1();
		for (i = len; i < SIZE && mem[i] == (char)(i * 7 + 1); i++)
			;
		put(argv[3], !memcmp(mem, argv[1], len) && i == SIZE ? "ok\n" : "bad\n");
	}
}
