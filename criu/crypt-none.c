/*
 * A criu built without encryption (make NO_ENCRYPTION=1, or without
 * GnuTLS, Nettle or libsodium): what asks for it is refused in one line,
 * and everything else is plain.  The rest of crypt.h is inline there.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "cr_options.h"
#include "image.h"
#include "log.h"
#include "cr-errno.h"
#include "crypt.h"

#undef LOG_PREFIX
#define LOG_PREFIX "crypt: "

#define NO_ENCRYPTION "this criu was built without encryption"

int crypt_init(void)
{
	set_cr_errno(EOPNOTSUPP);
	pr_err("%s\n", NO_ENCRYPTION);
	return -1;
}

int crypt_dump_init(void)
{
	if (!opts.encrypt)
		return 0;
	set_cr_errno(EOPNOTSUPP);
	pr_err("--encrypt: %s\n", NO_ENCRYPTION);
	return -1;
}

int crypt_image_open(struct cr_img *img, int dfd, int type, int flags, const char *path)
{
	img->_x.cf = NULL;
	if (!opts.encrypt)
		return 0;
	set_cr_errno(EOPNOTSUPP);
	pr_err("--encrypt: %s\n", NO_ENCRYPTION);
	return -1;
}

/* A page server serves an encrypted checkpoint's pages as they are stored: it needs no key */
bool crypt_dir_encrypted(int dfd)
{
	struct stat st;

	return !fstatat(dfd, "cipher.img", &st, AT_SYMLINK_NOFOLLOW);
}

/* An image sealed by an encrypted dump */
bool crypt_image_sealed(const char *path, uint32_t magic)
{
	if (memcmp(&magic, CRYPT_MAGIC, sizeof(magic)))
		return false;
	set_cr_errno(EOPNOTSUPP);
	pr_err("%s: an encrypted image, and %s\n", path, NO_ENCRYPTION);
	return true;
}
