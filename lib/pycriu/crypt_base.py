# SPDX-License-Identifier: GPL-2.0
# What every part of CRIT's decoder of encrypted checkpoints (crypt.py,
# crypt_pki.py) uses: the constants of the format, CryptError (one line
# naming the file) and describe(), the options with which crit opens keys
# and checks signatures, the parsing of the protobuf messages of an
# untrusted file, and regular files opened without blocking and read in
# bounded pieces: whoever can write a checkpoint's directory can put
# anything there.
import contextlib
import errno
import os
import stat
import sys
import tempfile
import warnings

from . import images

FORMAT = 2
STREAM, PAGES = "chacha20-poly1305-64k", "aes-256-xts+gmac"
WRAP_RSA = "rsa-oaep-sha256"
# the ECDH wraps by curve: (wrap, length of an uncompressed point)
WRAP_EC = {"secp256r1": ("ecdh-p256-hkdf-sha256", 65), "secp384r1": ("ecdh-p384-hkdf-sha256", 97)}
RSA_MIN_BITS = 2048
MAX_RECIPIENTS = 16
SIGNATURE, SIGN_MAGIC = "signature.img", b"CRIUSIGN"
SIGNATURE_MAX = 64 << 10
MAX_CHAIN = 8
# the signature algorithm of each kind of signer key (format section 12)
SIG_RSA, SIG_P256, SIG_P384, SIG_ED25519 = "rsa-pss-sha256", "ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"
MAGIC = b"CRIUSEAL"
NONCE, TAG, CHUNK, PAGE = 16, 16, 64 << 10, 4096
HDR = len(MAGIC) + NONCE
CIPHER_IMG, MANIFEST, TAGS_IMG = "cipher.img", "manifest.img", "pagetags.img"
PARENT_LINK = "parent"
STATS = ("stats-dump", "stats-restore")  # plain: timings and counters only
DEFAULT_KEY = "/etc/pki/criu/private/key.pem"
CIPHER_MAX = 64 << 10
MANIFEST_MAX = 64 << 20
VOUCHED_MAX = 64 << 20  # a file a page server wrote, which the manifest lists with its SHA-256
HASH = 32
PIECE = 1 << 20  # what is read of a file at once, at most
BATCH = PIECE // PAGE  # pages read, authenticated and decrypted at once, at most


class CryptError(Exception):
    """One line: the file and what is wrong with it."""


def describe(e):
    """An exception, on one line."""
    inner = e.__cause__ or e.__context__
    if isinstance(e, SystemError) and isinstance(inner, Warning):
        e = inner  # a warning made an error, raised inside protobuf
    s = str(e).replace("\n", " ").strip()
    return "%s: %s" % (type(e).__name__, s[:200]) if s else type(e).__name__


class Absent(CryptError):
    """An image that is not there, and that nothing says should be: CRIU
    takes it for an empty one."""


@contextlib.contextmanager
def parsing(path):
    """Around the parsing of protobuf messages of the file path: what
    protobuf warns of, or logs on the standard error (libprotobuf does, of
    a string that is not UTF-8, and goes on), is an error naming path."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                yield
        except Warning as w:
            raise CryptError("%s: malformed (%s)" % (path, str(w).splitlines()[0][:200] if str(w) else "?"))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        text = log.read(4096).decode(errors="replace").strip()
    if text:
        text = text.splitlines()[0]
        if text.startswith("[libprotobuf") and "] " in text:
            text = text.split("] ", 1)[1]
        raise CryptError("%s: malformed (%s)" % (path, text.strip()[:200]))


class Options:
    """How crit opens keys and checks signatures (crit's command line sets
    them; crypt.configure()).
      key_pass_file  the file whose first line is the passphrase of an
                     encrypted private key (else $CRIU_TLS_KEY_PASS)
      key_any_mode   accept a private key (and passphrase file) that
                     group or others may read or write
      cacert, cacrl  the trusted CA (PEM or DER, one or more certificates)
                     and its CRL: every checkpoint of a chain must then be
                     signed by a certificate that chains to it
      report         called with one line for every signed checkpoint
                     opened (who signed it, and whether that is verified)"""

    key_pass_file = None
    key_any_mode = False
    cacert = None
    cacrl = None
    report = None


options = Options()


#
# The messages of images/cipher.proto
#

def _pb(name, path):
    """The message class name of images/cipher.proto, from the build's
    cipher_pb2 (made of images/cipher.proto with the rest of crit)."""
    cls = getattr(images.pb, name, None)
    if cls is None:
        raise CryptError("%s: crit can't read it: its cipher_pb2 has no %s (a build of before format %d: "
                         "rebuild crit)" % (path, name, FORMAT))
    return cls


def _parse_message(cls, data, path, what):
    """The protobuf message cls of data (of the file path), complete and
    without unknown fields (nothing unauthenticated rides along)."""
    msg = cls()
    try:
        with parsing(path):
            msg.ParseFromString(data)
            complete = msg.IsInitialized()
            size = msg.ByteSize()
            msg.DiscardUnknownFields()
            known = msg.ByteSize()
    except CryptError:
        raise
    except Exception:
        raise CryptError("%s: malformed (%s does not parse)" % (path, what))
    if hasattr(msg, "format") and msg.HasField("format") and msg.format != FORMAT:
        # format 1 (a single RSA recipient, in fields 3, 6 and 7), or newer
        raise CryptError("%s: unsupported format version %d (crit reads format %d)" % (path, msg.format, FORMAT))
    if not complete:
        raise CryptError("%s: malformed (fields of %s missing)" % (path, what))
    if size != known:
        raise CryptError("%s: malformed (unknown fields in %s)" % (path, what))
    return msg


#
# Files: regular ones only, never blocking, read in bounded pieces
#

def open_regular(path):
    """(fd, size) of the regular file path, for reading; a FIFO, a
    device, a directory or a symlink is refused without being waited on
    (O_NONBLOCK, O_NOFOLLOW).  A file that is not there is Absent."""
    try:
        st = os.lstat(path)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise Absent("%s: no such file" % path)
        raise CryptError("%s: can't stat: %s" % (path, e.strerror))
    if stat.S_ISLNK(st.st_mode):
        raise CryptError("%s: not a regular file (a symlink)" % path)
    if not stat.S_ISREG(st.st_mode):
        raise CryptError("%s: not a regular file" % path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise CryptError("%s: not a regular file (a symlink)" % path)
        if e.errno == errno.ENOENT:
            raise Absent("%s: no such file" % path)
        raise CryptError("%s: can't open: %s" % (path, e.strerror))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise CryptError("%s: not a regular file" % path)
    return fd, st.st_size


def _pread(fd, n, off, path):
    """Up to n bytes at off, fewer only at the end of the file."""
    out = []
    while n > 0:
        try:
            b = os.pread(fd, min(n, PIECE), off)
        except OSError as e:
            raise CryptError("%s: can't read: %s" % (path, e.strerror))
        if not b:
            break
        out.append(b)
        n -= len(b)
        off += len(b)
    return b"".join(out)


def _pread_into(fd, buf, off, path):
    """Fill the memoryview buf from off; the number of bytes read, fewer
    only at the end of the file."""
    done = 0
    while done < len(buf):
        try:
            n = os.preadv(fd, [buf[done:]], off + done)
        except OSError as e:
            raise CryptError("%s: can't read: %s" % (path, e.strerror))
        if not n:
            break
        done += n
    return done


def read_small(path, limit, bigger="malformed"):
    """The whole of the regular file path, which must be at most limit
    bytes (a bigger one is malformed)."""
    fd, size = open_regular(path)
    try:
        if size > limit:
            raise CryptError("%s: %s (%d bytes)" % (path, bigger, size))
        data = _pread(fd, size + 1, 0, path)
    finally:
        os.close(fd)
    if len(data) != size:
        raise CryptError("%s: changed while read" % path)
    return data
