/*
 * The secret of the end-to-end tests' workloads: read from a file, which
 * is then removed, so that afterwards only the process's memory holds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned secret_sum(const char *s)
{
	unsigned v = 0;

	while (*s)
		v = v * 31 + (unsigned char)*s++;
	return v;
}

/* The first line of path, on the heap; exits the program if there is none. */
static char *read_secret(const char *path)
{
	char buf[256], *secret;
	FILE *f;

	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		perror(path);
		exit(1);
	}
	fclose(f);
	unlink(path);
	buf[strcspn(buf, "\n")] = 0;
	secret = strdup(buf);
	memset(buf, 0, sizeof(buf));
	if (!secret) {
		perror("strdup");
		exit(1);
	}
	return secret;
}
