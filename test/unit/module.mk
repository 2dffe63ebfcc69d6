# The encryption module linked alone, without the rest of criu (whose log,
# options and util.c's read_all()/write_all() test/unit/stub.c stands in
# for): the unit tests, the benchmark's primitives and the fuzz harnesses
# build it from here.  CRYPT_TREE is a CRIU tree holding the module
# (build/criu).  SYSCONFDIR, where criu looks for its default CA
# (crypt-pki.c), is one that does not exist: the tests name every file,
# whatever the machine has in /etc/pki.
CRYPT_TREE	?= build/criu
CRYPT_MODULE	:= util work pki rsa ecdh kdf cipher sign stream page page-io tags
CRYPT_SYSCONFDIR := /nonexistent/criu-test-etc
CRYPT_SRCS	= $(patsubst %,$(CRYPT_TREE)/criu/crypt-%.c,$(CRYPT_MODULE)) \
		  $(CRYPT_TREE)/images/cipher.pb-c.c test/unit/stub.c
CRYPT_HDRS	= $(CRYPT_TREE)/criu/crypt-private.h $(CRYPT_TREE)/criu/include/crypt.h test/unit/stub.h
CRYPT_CPPFLAGS	= -D_GNU_SOURCE -DCONFIG_ENCRYPTION -DSYSCONFDIR='"$(CRYPT_SYSCONFDIR)"' -iquote test/unit -iquote $(CRYPT_TREE)/criu \
		  -iquote $(CRYPT_TREE)/criu/arch/x86/include -I$(CRYPT_TREE)/compel/include/uapi \
		  -iquote $(CRYPT_TREE)/criu/include -I$(CRYPT_TREE)/include -I$(CRYPT_TREE)
CRYPT_LIBS	:= -lprotobuf-c -lgnutls -lsodium -lhogweed -lnettle -lgmp -lpthread
CRYPT_SAN	:= -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
UNIT		?= build/unit

$(UNIT)/crypt-unit: test/unit/crypt-unit.c $(CRYPT_SRCS) $(CRYPT_HDRS)
	@mkdir -p $(@D)
	gcc -O2 -Wall -Werror $(CRYPT_CPPFLAGS) -o $@ $(filter %.c,$^) $(CRYPT_LIBS)

$(UNIT)/crypt-unit-asan: test/unit/crypt-unit.c $(CRYPT_SRCS) $(CRYPT_HDRS)
	@mkdir -p $(@D)
	gcc $(CRYPT_SAN) -Wall -Werror $(CRYPT_CPPFLAGS) -o $@ $(filter %.c,$^) $(CRYPT_LIBS)

$(UNIT)/primitives: bench/primitives.c $(CRYPT_SRCS) $(CRYPT_HDRS)
	@mkdir -p $(@D)
	gcc -O2 -Wall $(CRYPT_CPPFLAGS) -o $@ $(filter %.c,$^) $(CRYPT_LIBS)

$(UNIT)/vectors: test/vectors/vectors.c $(CRYPT_SRCS) $(CRYPT_HDRS)
	@mkdir -p $(@D)
	gcc -O2 -Wall -Werror $(CRYPT_CPPFLAGS) -o $@ $(filter %.c,$^) $(CRYPT_LIBS)
