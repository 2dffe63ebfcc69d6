#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <linux/limits.h>

#include "zdtmtst.h"

const char *test_doc = "A fresh random secret in a file on a private tmpfs and in the heap; "
		       "the test's output names it, so that a harness can look for it in the images";
const char *test_author = "criu-encrypt";

char *dirname;
TEST_OPTION(dirname, string, "directory name", 1);

int main(int argc, char **argv)
{
	char secret[33], buf[64], fname[PATH_MAX], *heap;
	unsigned char rnd[16];
	int fd, i;

	test_init(argc, argv);

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		pr_perror("getrandom");
		return 1;
	}
	for (i = 0; i < 16; i++)
		sprintf(secret + 2 * i, "%02x", rnd[i]);
	heap = strdup(secret);

	mkdir(dirname, 0700);
	if (mount("none", dirname, "tmpfs", 0, "") < 0) {
		fail("Can't mount tmpfs");
		return 1;
	}
	snprintf(fname, sizeof(fname), "%s/secret", dirname);
	fd = open(fname, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || write(fd, secret, 32) != 32) {
		pr_perror("Can't write %s", fname);
		return 1;
	}
	close(fd);
	test_msg("secret %s\n", secret);

	test_daemon();
	test_waitsig();

	fd = open(fname, O_RDONLY);
	memset(buf, 0, sizeof(buf));
	if (fd < 0 || read(fd, buf, sizeof(buf)) != 32 || memcmp(buf, secret, 32)) {
		fail("The secret on tmpfs is lost");
		return 1;
	}
	close(fd);
	if (strcmp(heap, secret)) {
		fail("The secret in the heap is lost");
		return 1;
	}
	umount(dirname);
	pass();
	return 0;
}
