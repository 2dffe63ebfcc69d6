/*
 * Run a command and write what it cost to OUT, one line:
 *
 *   WALL_S USER_S SYS_S MAXRSS_KIB EXIT
 *
 * Wall time from CLOCK_MONOTONIC (GNU time prints only centiseconds);
 * CPU time and peak RSS from wait4(), which counts the command and every
 * descendant it waited for (a post-dump action script and its tools), but
 * not the tasks a detached restore leaves running.  The peak RSS is that of
 * the largest single process among them.
 *
 *   timeit OUT COMMAND [ARG...]
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double secs(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	int status, code;
	double t0, wall;
	pid_t pid;
	FILE *out;

	if (argc < 3) {
		fprintf(stderr, "usage: %s OUT COMMAND [ARG...]\n", argv[0]);
		return 2;
	}
	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) != pid) {
		perror("wait4");
		return 2;
	}
	wall = now() - t0;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	out = fopen(argv[1], "w");
	if (!out) {
		perror(argv[1]);
		return 2;
	}
	fprintf(out, "%.6f %.6f %.6f %ld %d\n", wall, secs(ru.ru_utime), secs(ru.ru_stime), ru.ru_maxrss, code);
	fclose(out);
	return code;
}
