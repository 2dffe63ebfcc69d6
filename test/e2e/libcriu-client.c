/*
 * A client of libcriu (lib/c), as a container engine is one: it asks criu
 * swrk for an encrypted dump, a restore with a key, or whether criu has
 * encryption at all.  Prints one line; a failure as "failed: RET: ERRNO"
 * (errno is criu's cr_errno) and exit status 1.
 *
 *   libcriu-client CRIU feature
 *   libcriu-client CRIU dump PID DIR CERT [CERT...]   more recipients: criu_add_tls_cert()
 *   libcriu-client CRIU restore DIR KEY       prints the restored pid
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "criu.h"

static int failed(int ret)
{
	int err = errno;

	printf("failed: %d: %d %s\n", ret, err, strerror(err));
	return 1;
}

static int images_dir(const char *dir)
{
	int fd = open(dir, O_DIRECTORY);

	if (fd < 0) {
		perror(dir);
		exit(2);
	}
	criu_set_images_dir_fd(fd);
	criu_set_log_file(strcmp(getenv("RPC_LOG") ?: "", "") ? getenv("RPC_LOG") : "rpc.log");
	criu_set_log_level(4);
	return fd;
}

int main(int argc, char **argv)
{
	int ret, i;

	if (argc < 3 || criu_init_opts()) {
		fprintf(stderr, "usage: %s CRIU feature|dump PID DIR CERT [CERT...]|restore DIR KEY\n", argv[0]);
		return 2;
	}
	criu_set_service_binary(argv[1]);

	if (!strcmp(argv[2], "feature")) {
		struct criu_feature_check f = { .encryption = true };

		ret = criu_feature_check(&f, sizeof(f));
		if (ret)
			return failed(ret);
		printf("encryption: %s\n", f.encryption ? "yes" : "no");
		return 0;
	}
	if (!strcmp(argv[2], "dump") && argc >= 6) {
		criu_set_pid(atoi(argv[3]));
		images_dir(argv[4]);
		criu_set_encrypt(true);
		if (criu_set_tls_cert(argv[5]))
			return failed(-ENOMEM);
		for (i = 6; i < argc; i++)
			if (criu_add_tls_cert(argv[i]))
				return failed(-ENOMEM);
		ret = criu_dump();
		if (ret < 0)
			return failed(ret);
		printf("dumped\n");
		return 0;
	}
	if (!strcmp(argv[2], "restore") && argc == 5) {
		images_dir(argv[3]);
		if (criu_set_tls_key(argv[4]))
			return failed(-ENOMEM);
		ret = criu_restore();
		if (ret < 0)
			return failed(ret);
		printf("%d\n", ret);
		return 0;
	}
	fprintf(stderr, "usage: %s CRIU feature|dump PID DIR CERT [CERT...]|restore DIR KEY\n", argv[0]);
	return 2;
}
