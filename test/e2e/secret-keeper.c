/*
 * A small stateful process for the demo and the end-to-end tests: it reads
 * a secret from a file into its heap, removes the file, and then counts,
 * logging one line a tick, so that a restored copy shows it carried on from
 * where it was and that the secret is still in its memory.
 *
 * usage: secret-keeper SECRET_FILE LOG_FILE [fork]
 * With "fork", a child process keeps a copy of the secret too (and does
 * nothing else), so that the checkpoint holds two tasks.
 */
#include "secret.h"

int main(int argc, char **argv)
{
	char *secret;
	unsigned long tick = 0;
	unsigned check;
	FILE *log;

	if (argc < 3) {
		fprintf(stderr, "usage: %s SECRET_FILE LOG_FILE [fork]\n", argv[0]);
		return 2;
	}
	secret = read_secret(argv[1]);
	check = secret_sum(secret);

	log = fopen(argv[2], "a");
	if (!log) {
		perror(argv[2]);
		return 1;
	}
	setvbuf(log, NULL, _IOLBF, 0);
	if (argc > 3 && !strcmp(argv[3], "fork") && fork() == 0)
		for (;;)
			pause();
	for (;;) {
		tick++;
		fprintf(log, "tick %lu: secret of %zu bytes %s\n", tick, strlen(secret),
			secret_sum(secret) == check ? "intact" : "CORRUPTED");
		usleep(100000);
	}
}
