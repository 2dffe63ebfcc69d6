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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned sum(const char *s)
{
	unsigned v = 0;

	while (*s)
		v = v * 31 + (unsigned char)*s++;
	return v;
}

int main(int argc, char **argv)
{
	char buf[256], *secret;
	unsigned long tick = 0;
	unsigned check;
	FILE *f, *log;

	if (argc < 3) {
		fprintf(stderr, "usage: %s SECRET_FILE LOG_FILE [fork]\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		perror(argv[1]);
		return 1;
	}
	fclose(f);
	unlink(argv[1]);
	buf[strcspn(buf, "\n")] = 0;
	secret = strdup(buf);
	memset(buf, 0, sizeof(buf));
	check = sum(secret);

	log = fopen(argv[2], "a");
	if (!log || !secret) {
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
			sum(secret) == check ? "intact" : "CORRUPTED");
		usleep(100000);
	}
}
