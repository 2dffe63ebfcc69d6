/* test/unit/stub.c: the result lines of the module's tests */
#ifndef __CRYPT_TEST_STUB_H__
#define __CRYPT_TEST_STUB_H__

extern int stub_failed;
extern void result(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
