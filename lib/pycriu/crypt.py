# SPDX-License-Identifier: GPL-2.0
# A second, independent decoder of encrypted checkpoints, written from
# Documentation/encryption-format.txt with Python's cryptography (not from the C).
#
# A checkpoint is untrusted input: whoever can write its directory can put
# anything there, and anyone with the recipient's certificate can make a
# checkpoint that authenticates.  So every file is opened without blocking
# and must be a regular file, only what the manifest lists is read, every
# length read before authentication is bounded by the size of its file,
# files are read in bounded pieces (pages on demand, streams a chunk at a
# time), and every failure is a CryptError: one line naming the file.
import contextlib
import errno
import hashlib
import hmac
import io
import os
import stat
import struct
import sys
import tempfile
import warnings

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from . import images

try:
    # cryptography's own binding of OpenSSL, for the page cipher: a Cipher
    # object and an AESGCM call a page cost ten times the cipher's work
    from cryptography.hazmat.bindings.openssl.binding import Binding
    _ossl = Binding()
    _lib, _ffi = _ossl.lib, _ossl.ffi
    if not all(hasattr(_lib, f) for f in ("EVP_CIPHER_CTX_new", "EVP_CIPHER_CTX_free", "EVP_CipherInit_ex",
                                          "EVP_CipherUpdate", "EVP_CipherFinal_ex", "EVP_CIPHER_CTX_ctrl",
                                          "EVP_get_cipherbyname", "EVP_CTRL_AEAD_GET_TAG", "ERR_clear_error")):
        _lib = None
except Exception:
    _lib = None

FORMAT = 1
WRAP, STREAM, PAGES = "rsa-oaep-sha256", "chacha20-poly1305-64k", "aes-256-xts+gmac"
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


def _field(v):
    return struct.pack(">H", len(v)) + v


def parent_digest(cipher, manifest):
    """What a child checkpoint records of its parent: the bytes of the
    parent's cipher.img and manifest.img files."""
    return hashlib.sha256(b"criu-encrypt v1 parent\0" + struct.pack(">Q", len(cipher)) + cipher +
                          struct.pack(">Q", len(manifest)) + manifest).digest()


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


_keys = {}


def private_key(path):
    """(the RSA private key of the file path, its id: the SHA-256 of its
    public key as a DER SubjectPublicKeyInfo), read once (checking a key
    takes a while)."""
    if path not in _keys:
        data = _read_key(path)
        try:
            key = serialization.load_pem_private_key(data, None)
        except (ValueError, TypeError):
            try:
                key = serialization.load_der_private_key(data, None)
            except Exception:
                raise CryptError("%s: not an unencrypted private key" % path)
        except Exception:
            raise CryptError("%s: not an unencrypted private key" % path)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CryptError("%s: the private key is not RSA" % path)
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        _keys[path] = key, hashlib.sha256(spki).digest()
    return _keys[path]


def _read_key(path):
    """The private key file path (the user's own: a symlink is fine, but
    not a FIFO, and not more than 1 MiB)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise CryptError("%s: can't read: %s" % (path, e.strerror))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > PIECE:
            raise CryptError("%s: can't read: not a regular file of at most 1 MiB" % path)
        return _pread(fd, PIECE, 0, path)
    finally:
        os.close(fd)


class _Source:
    """Bytes to read at an offset: an open regular file (owned) or a
    buffer, of a size fixed when opened."""

    def __init__(self, path, fd=None, size=0, data=None):
        self.path, self.fd, self.data = path, fd, data
        self.size = len(data) if data is not None else size

    def pread(self, n, off):
        if self.data is not None:
            return self.data[off:off + n]
        return _pread(self.fd, n, off, self.path)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _Reader(io.RawIOBase):
    """A read-only binary file of a known size, whose read(n) never
    allocates more than what is left of it (an untrusted length asks for
    gigabytes: it gets what there is)."""

    size = 0

    def __init__(self):
        super().__init__()
        self.pos = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, off, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        if base + off < 0:
            raise CryptError("%s: a seek before the start of the image" % self.path)
        self.pos = base + off
        return self.pos

    def _get(self, off, n):
        """n > 0 bytes at off < size, or fewer (then with more to come)."""
        raise NotImplementedError

    def read(self, n=-1):
        if self.closed:
            raise ValueError("read of a closed file")
        left = max(0, self.size - self.pos)
        n = left if n is None or n < 0 else min(n, left)
        out = []
        while n > 0:
            b = self._get(self.pos, min(n, PIECE))
            if not b:
                raise CryptError("%s: changed while read (shorter)" % self.path)
            out.append(b)
            self.pos += len(b)
            n -= len(b)
        return b"".join(out)

    def readall(self):
        return self.read()

    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


class PlainFile(_Reader):
    """An image of a plain checkpoint (or a plain image of an encrypted
    one: cipher.img, the statistics)."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.src = None
        fd, size = open_regular(path)
        self.src = _Source(path, fd, size)
        self.size = size
        if self.src.pread(len(MAGIC), 0) == MAGIC:
            self.close()
            if is_encrypted(os.path.dirname(path) or "."):
                raise CryptError("%s: an encrypted image where a plain one is expected" % path)
            raise CryptError("%s: an encrypted image, but there is no %s" % (path, CIPHER_IMG))

    def _get(self, off, n):
        return self.src.pread(n, off)

    def close(self):
        if self.src:
            self.src.close()
        super().close()


class SealedStream(_Reader):
    """The plaintext of a sealed image: its last chunk is authenticated
    when it is opened, then every chunk when it is read, before use."""

    def __init__(self, cp, name, src):
        super().__init__()
        self.path, self.src = src.path, src
        hdr = src.pread(HDR, 0)
        if hdr[:len(MAGIC)] != MAGIC:
            raise CryptError("%s: not an encrypted image (no %s header)" % (self.path, MAGIC.decode()))
        payload = src.size - HDR
        rem = payload % (CHUNK + TAG)
        if payload < TAG or 0 < rem < TAG:
            raise CryptError("%s: truncated (%d bytes)" % (self.path, src.size))
        self.n = payload // (CHUNK + TAG) + (1 if rem else 0)
        self.last = rem if rem else CHUNK + TAG
        self.size = (self.n - 1) * CHUNK + self.last - TAG
        self.aead = ChaCha20Poly1305(cp.derive("criu-encrypt v1 stream", hdr[len(MAGIC):] + name.encode()))
        self.cached = (self.n - 1, self._chunk(self.n - 1))

    def _chunk(self, i):
        want = self.last if i == self.n - 1 else CHUNK + TAG
        c = self.src.pread(want, HDR + i * (CHUNK + TAG))
        if len(c) != want:
            raise CryptError("%s: changed while read (chunk %d)" % (self.path, i))
        nonce = i.to_bytes(11, "big") + (b"\x01" if i == self.n - 1 else b"\x00")
        try:
            return self.aead.decrypt(nonce, c, None)
        except InvalidTag:
            raise CryptError("%s: authentication failed at chunk %d "
                             "(tampered, truncated or not of this checkpoint)" % (self.path, i))

    def _get(self, off, n):
        i = off // CHUNK
        if self.cached[0] != i:
            self.cached = (i, self._chunk(i))
        o = off - i * CHUNK
        return self.cached[1][o:o + n]

    def close(self):
        self.src.close()
        super().close()


class PlainPages:
    """A page image of a plain checkpoint: page(j) reads page j,
    read_into() many."""

    def __init__(self, path, fd=None, size=None):
        self.path = path
        if fd is None:
            fd, size = open_regular(path)
        self.src = _Source(path, fd, size)
        self.nr = size // PAGE

    def read_into(self, j, n, buf):
        """Pages j .. j + n - 1 into the memoryview buf (n pages), as the
        file holds them."""
        if len(buf) != n * PAGE:
            raise ValueError("a buffer of %d bytes for %d pages" % (len(buf), n))
        if not 0 <= j <= j + n <= self.nr:
            raise CryptError("%s: no page %d (it has %d)" % (self.path, j if not 0 <= j < self.nr else self.nr,
                                                              self.nr))
        if _pread_into(self.src.fd, buf, j * PAGE, self.path) != n * PAGE:
            raise CryptError("%s: changed while read (page %d)" % (self.path, j))

    def page(self, j):
        """The bytes of page j."""
        buf = bytearray(PAGE)
        self.read_into(j, 1, memoryview(buf))
        return bytes(buf)

    def close(self):
        self.src.close()


class _PageCipher:
    """The page cipher of one page image (format section 6), for n pages
    at once: their tags, and their decryption in place.  With OpenSSL's
    binding, one context each for GMAC and XTS, of which only the nonce
    or the tweak is set for a page; without it (another cryptography),
    the public API, a page at a time."""

    def __init__(self, path, kx, kt):
        self.path, self.kx, self.kt = path, kx, kt
        if _lib:
            self.gmac = self._context(b"aes-256-gcm", kt, 1)
            self.xts = self._context(b"aes-256-xts", kx, 0)
            self.outl = _ffi.new("int *")

    def _context(self, name, key, enc):
        ctx = _lib.EVP_CIPHER_CTX_new()
        if ctx == _ffi.NULL:
            raise MemoryError()
        ctx = _ffi.gc(ctx, _lib.EVP_CIPHER_CTX_free)
        cipher = _lib.EVP_get_cipherbyname(name)
        if cipher == _ffi.NULL or _lib.EVP_CipherInit_ex(ctx, cipher, _ffi.NULL, key, _ffi.NULL, enc) != 1:
            self._failed("can't set up %s" % name.decode())
        return ctx

    def _failed(self, what):
        _lib.ERR_clear_error()  # nothing left for cryptography's next call to trip on
        raise CryptError("%s: OpenSSL %s" % (self.path, what))

    def tags(self, j, c):
        """The tags of the n pages j .. j + n - 1 of ciphertext c."""
        n = len(c) // PAGE
        if not _lib:
            g = AESGCM(self.kt)
            return b"".join(g.encrypt((j + k).to_bytes(12, "big"), b"", bytes(c[k * PAGE:(k + 1) * PAGE]))
                            for k in range(n))
        out = bytearray(n * TAG)
        src, dst = _ffi.from_buffer(c), _ffi.from_buffer(out, require_writable=True)
        init, update, final, ctrl = (_lib.EVP_CipherInit_ex, _lib.EVP_CipherUpdate,
                                     _lib.EVP_CipherFinal_ex, _lib.EVP_CIPHER_CTX_ctrl)
        ctx, outl, null, get_tag = self.gmac, self.outl, _ffi.NULL, _lib.EVP_CTRL_AEAD_GET_TAG
        for k in range(n):
            # GMAC: the page is the additional data of an empty message
            if init(ctx, null, null, null, (j + k).to_bytes(12, "big"), -1) != 1 or \
               update(ctx, null, outl, src + k * PAGE, PAGE) != 1 or \
               final(ctx, dst + k * TAG, outl) != 1 or ctrl(ctx, get_tag, TAG, dst + k * TAG) != 1:
                self._failed("failed on the tag of page %d" % (j + k))
        return bytes(out)

    def decrypt(self, j, buf):
        """Decrypt the pages j .. j + n - 1 in the memoryview buf, in place."""
        n = len(buf) // PAGE
        if not _lib:
            for k in range(n):
                d = Cipher(algorithms.AES(self.kx), modes.XTS((j + k).to_bytes(16, "little"))).decryptor()
                buf[k * PAGE:(k + 1) * PAGE] = d.update(bytes(buf[k * PAGE:(k + 1) * PAGE])) + d.finalize()
            return
        p = _ffi.from_buffer(buf, require_writable=True)
        init, update = _lib.EVP_CipherInit_ex, _lib.EVP_CipherUpdate
        ctx, outl, null = self.xts, self.outl, _ffi.NULL
        for k in range(n):
            # the tweak is LE_8(j) || 0^8: j on 16 bytes, little-endian
            if init(ctx, null, null, null, (j + k).to_bytes(16, "little"), -1) != 1 or \
               update(ctx, p + k * PAGE, outl, p + k * PAGE, PAGE) != 1:
                self._failed("failed on page %d" % (j + k))


class PageImage(PlainPages):
    """One page image of an encrypted checkpoint: page(j) and read_into()
    read pages, authenticate and decrypt them, only when asked (a page
    nothing reads, punched out of a parent by --auto-dedup, is never
    checked)."""

    def __init__(self, cp, name, salt, tags):
        fd, size = cp.open_listed(name)
        super().__init__(os.path.join(cp.dir, name), fd, size)
        self.tags = tags
        if size != len(tags) // TAG * PAGE:
            self.src.close()
            raise CryptError("%s: %d bytes, but %s has the tags of %d pages (truncated or extended)" %
                             (self.path, size, TAGS_IMG, len(tags) // TAG))
        self.cipher = _PageCipher(self.path, cp.derive("criu-encrypt v1 pages xts", salt + name.encode(), 64),
                                  cp.derive("criu-encrypt v1 pages tag", salt + name.encode()))

    def read_into(self, j, n, buf):
        """The plaintext of pages j .. j + n - 1 into the memoryview buf,
        every page authenticated before any is decrypted."""
        super().read_into(j, n, buf)
        want = self.tags[j * TAG:(j + n) * TAG]
        have = self.cipher.tags(j, buf)
        if not hmac.compare_digest(have, want):
            k = next(k for k in range(n) if have[k * TAG:(k + 1) * TAG] != want[k * TAG:(k + 1) * TAG])
            raise CryptError("%s: page %d fails authentication "
                             "(tampered, moved or not of this checkpoint)" % (self.path, j + k))
        self.cipher.decrypt(j, buf)


class PagesReader(_Reader):
    """A page image as a binary file, its pages read (and in an
    encrypted checkpoint authenticated) when a read reaches them, up to
    BATCH at a time."""

    def __init__(self, pages):
        super().__init__()
        self.pages, self.path = pages, pages.path
        self.size = pages.nr * PAGE
        self.buf = memoryview(bytearray(min(pages.nr, BATCH) * PAGE))
        self.first, self.count = 0, 0  # the pages in buf

    def _get(self, off, n):
        j = off // PAGE
        if not self.first <= j < self.first + self.count:
            # the pages of [off, off + n), and no others: a read
            # authenticates only what it returns
            self.first, self.count = j, 0
            k = min(BATCH, (off + n + PAGE - 1) // PAGE - j)
            self.pages.read_into(j, k, self.buf[:k * PAGE])
            self.count = k
        o = off - self.first * PAGE
        return bytes(self.buf[o:min(o + n, self.count * PAGE)])

    def close(self):
        self.pages.close()
        super().close()


#
# Checkpoint directories
#

def is_tags_image(name):
    """pagetags.img, or the pagetags-<id>.img of pages a helper process dumped."""
    return name == TAGS_IMG or name.startswith("pagetags-")


def is_page_image(name):
    return name.startswith("pages-")


def is_encrypted(dirpath):
    """A directory with cipher.img (whatever it is: a cipher.img that is
    not a regular file is refused when the directory is opened)."""
    return os.path.lexists(os.path.join(dirpath, CIPHER_IMG))


def _parse_manifest(text, path):
    """The names the manifest lists, and {name: SHA-256} of the files a
    page server wrote, which it lists with their digest."""
    names = text.split(b"\n")
    if names.pop() != b"":
        raise CryptError("%s: malformed (no newline at its end)" % path)
    out, vouched = [], {}
    for line in names:
        n, sp, digest = line.partition(b" ")
        if sp:
            try:
                vouched[n.decode()] = bytes.fromhex(digest.decode())
            except ValueError:
                raise CryptError("%s: malformed (the digest of %r)" % (path, n[:64]))
            if len(digest) != 2 * HASH or digest.lower() != digest:
                raise CryptError("%s: malformed (the digest of %r)" % (path, n[:64]))
        # a file name of this directory, nothing else: crit decrypt
        # writes files of these names
        if not n or len(n) > 255 or b"/" in n or b"\0" in n or n in (b".", b".."):
            raise CryptError("%s: malformed (the name %r)" % (path, n[:64]))
        try:
            out.append(n.decode())
        except UnicodeDecodeError:
            raise CryptError("%s: malformed (the name %r)" % (path, n[:64]))
    if len(set(out)) != len(out):
        raise CryptError("%s: malformed (a name twice)" % path)
    for n in out:
        if n in (CIPHER_IMG, MANIFEST, PARENT_LINK) or n in STATS:
            raise CryptError("%s: malformed (lists %s)" % (path, n))
    return out, vouched


class PlainDir:
    """A checkpoint directory without cipher.img."""

    encrypted = False

    def __init__(self, dirpath):
        self.dir = dirpath
        self.parent = None

    def open_image(self, name):
        return PlainFile(os.path.join(self.dir, name))

    def page_image(self, name):
        return PlainPages(os.path.join(self.dir, name))


class Checkpoint:
    """The keys and the manifest of one encrypted images directory."""

    encrypted = True

    def __init__(self, dirpath, key_path=None):
        self.dir = dirpath
        self.parent = None
        self._tags = None
        key_path = key_path or DEFAULT_KEY
        path = os.path.join(dirpath, CIPHER_IMG)
        try:
            self.cipher_raw = read_small(path, CIPHER_MAX)
        except Absent:
            raise CryptError("%s: missing" % path)
        ce = self._parse_cipher(self.cipher_raw, path)
        if ce.format != FORMAT:
            raise CryptError("%s: unsupported format version %d" % (path, ce.format))
        for what, have, want in (("key wrap", ce.wrap, WRAP), ("stream", ce.stream, STREAM),
                                 ("page", ce.pages, PAGES)):
            if have != want:
                raise CryptError("%s: unsupported %s algorithm '%s'" % (path, what, have[:64]))
        key, kid = private_key(key_path)
        if kid != ce.recipient:
            raise CryptError("%s: the checkpoint is encrypted for another key than %s" % (path, key_path))
        try:
            ck = key.decrypt(ce.wrapped_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                          algorithm=hashes.SHA256(), label=None))
        except ValueError:
            ck = b""
        if len(ck) != 32:
            raise CryptError("%s: can't unwrap the checkpoint key with %s (damaged)" % (path, key_path))
        self.prk = hmac.new(ce.id, ck, hashlib.sha256).digest()
        m = hmac.new(self.derive("criu-encrypt v1 cipher.img"), digestmod=hashlib.sha256)
        fields = [struct.pack(">I", ce.format), ce.id, ce.wrap.encode(), ce.stream.encode(),
                  ce.pages.encode(), ce.recipient, ce.wrapped_key]
        if self.recorded_parent is not None:
            fields.append(self.recorded_parent)
        for v in fields:
            m.update(_field(v))
        if not hmac.compare_digest(m.digest(), ce.mac):
            raise CryptError("%s: authentication failed (tampered)" % path)
        self._read_manifest()

    def _parse_cipher(self, data, path):
        """The entry of cipher.img (data), every length checked."""
        head = struct.pack("<II", images.magic.by_name["IMG_COMMON"], images.magic.by_name["CIPHER"])
        if len(data) < 12 or data[:8] != head:
            raise CryptError("%s: malformed (not a cipher.img: bad magic)" % path)
        size = struct.unpack("<I", data[8:12])[0]
        if size != len(data) - 12:
            raise CryptError("%s: malformed (an entry of %d bytes in %d)" % (path, size, len(data)))
        ce = images.pb.cipher_entry()
        try:
            with parsing(path):
                ce.ParseFromString(data[12:])
                complete = ce.IsInitialized()
        except CryptError:
            raise
        except Exception:
            raise CryptError("%s: malformed (the entry does not parse)" % path)
        if not complete:
            raise CryptError("%s: malformed (fields missing)" % path)
        for what, v, n in (("id", ce.id, 16), ("recipient", ce.recipient, HASH), ("mac", ce.mac, HASH)):
            if len(v) != n:
                raise CryptError("%s: malformed (an %s of %d bytes)" % (path, what, len(v)))
        self.recorded_parent = None
        if "parent" in ce.DESCRIPTOR.fields_by_name and ce.HasField("parent"):
            if len(ce.parent) != HASH:
                raise CryptError("%s: malformed (a parent of %d bytes)" % (path, len(ce.parent)))
            self.recorded_parent = ce.parent
        return ce

    def _read_manifest(self):
        path = os.path.join(self.dir, MANIFEST)
        try:
            raw = read_small(path, MANIFEST_MAX, "too big")
        except Absent:
            raise CryptError("%s: the checkpoint is incomplete (the dump did not finish, "
                             "or its manifest was removed)" % path)
        self.digest = parent_digest(self.cipher_raw, raw)
        with SealedStream(self, MANIFEST, _Source(path, data=raw)) as s:
            text = s.read()
        self.manifest, self.vouched = _parse_manifest(text, path)
        self.listed = set(self.manifest)

    def derive(self, label, data=b"", n=32):
        return HKDFExpand(hashes.SHA256(), n, label.encode() + b"\0" + data).derive(self.prk)

    def open_listed(self, name):
        """(fd, size) of the image name, which the manifest must list: an
        image the dump did not write is never read."""
        path = os.path.join(self.dir, name)
        if name not in self.listed:
            if not os.path.lexists(path):
                raise Absent("%s: no such file" % path)
            raise CryptError("%s: not listed in %s (not written by this dump)" % (path, MANIFEST))
        try:
            return open_regular(path)
        except Absent:
            if name in self.vouched:
                raise CryptError("%s: missing from the checkpoint (a page server wrote it: "
                                 "are its files here?)" % path)
            raise CryptError("%s: missing from the checkpoint (removed)" % path)

    def vouched_file(self, name):
        """The file name a page server wrote, whole, once its SHA-256 is
        the one the manifest lists with it."""
        path = os.path.join(self.dir, name)
        fd, size = self.open_listed(name)
        try:
            if size > VOUCHED_MAX:
                raise CryptError("%s: too big (%d bytes)" % (path, size))
            data = _pread(fd, size + 1, 0, path)
        finally:
            os.close(fd)
        if len(data) != size:
            raise CryptError("%s: changed while read" % path)
        if not hmac.compare_digest(hashlib.sha256(data).digest(), self.vouched[name]):
            raise CryptError("%s: not what the dump sent the page server (its SHA-256 is not "
                             "the one in %s)" % (path, MANIFEST))
        return data

    def stream(self, name):
        """The sealed image name, as a binary file of its plaintext."""
        fd, size = self.open_listed(name)
        src = _Source(os.path.join(self.dir, name), fd, size)
        try:
            return SealedStream(self, name, src)
        except BaseException:
            src.close()
            raise

    def open_stream(self, name):
        """The plaintext of a sealed image, every chunk authenticated."""
        with self.stream(name) as s:
            return s.read()

    def open_image(self, name):
        """A binary file of the plaintext of the image name."""
        if name == MANIFEST:
            return SealedStream(self, MANIFEST, _Source(os.path.join(self.dir, name),
                                                        data=read_small(os.path.join(self.dir, name),
                                                                        MANIFEST_MAX)))
        if name in STATS or name == CIPHER_IMG:
            return PlainFile(os.path.join(self.dir, name))
        if name in self.vouched:
            return io.BytesIO(self.vouched_file(name))
        if is_page_image(name) and name in self.listed:
            return PagesReader(self.page_image(name))
        return self.stream(name)

    def page_tags(self):
        """{page image name: (salt, tags)} from the records of pagetags.img
        and of the manifest's pagetags-<id>.img."""
        if self._tags is None:
            tags = {}
            for name in [TAGS_IMG] + [n for n in self.manifest if n.startswith("pagetags-")]:
                for img, st in self._read_tags(name).items():
                    if img in tags:
                        raise CryptError("%s: tags of %s, which another tags image has" %
                                         (os.path.join(self.dir, name), img))
                    tags[img] = st
            self._tags = tags
        return self._tags

    def _read_tags(self, tags_img):
        """The records of one tags image, gathered by page image."""
        try:
            data = self.open_stream(tags_img)
        except Absent:
            raise CryptError("%s: not listed in %s" % (os.path.join(self.dir, tags_img), MANIFEST))
        off, tags = 0, {}
        path = os.path.join(self.dir, tags_img)
        view = memoryview(data)  # the tags are copied once, when joined
        while off < len(data):
            n = data[off]
            end = off + 1 + n + NONCE + 4
            if not n or end > len(data):
                raise CryptError("%s: malformed at byte %d of its plaintext" % (path, off))
            name = data[off + 1:off + 1 + n]
            salt = data[off + 1 + n:end - 4]
            k = struct.unpack(">I", data[end - 4:end])[0]
            have = tags.setdefault(name.decode(errors="replace"), (salt, []))
            if b"\0" in name or have[0] != salt or end + k * TAG > len(data):
                raise CryptError("%s: malformed at byte %d of its plaintext" % (path, off))
            have[1].append(view[end:end + k * TAG])
            off = end + k * TAG
        return {name: (salt, b"".join(t)) for name, (salt, t) in tags.items()}

    def open_pages(self, name):
        """The plaintext of a page image, every page authenticated."""
        pages = self.page_image(name)
        try:
            buf = bytearray(pages.nr * PAGE)
            pages.read_into(0, pages.nr, memoryview(buf))
            return bytes(buf)
        finally:
            pages.close()

    def page_image(self, name):
        """A page image whose pages are authenticated and decrypted one by
        one, as they are read (PageImage)."""
        if name not in self.listed:
            self.open_listed(name)  # says why
        tags = self.page_tags()
        if name not in tags:
            raise CryptError("%s: no tags for it in %s" % (os.path.join(self.dir, name), TAGS_IMG))
        return PageImage(self, name, *tags[name])


_dirs = {}  # (st_dev, st_ino) -> PlainDir or Checkpoint, its chain checked
_walking = set()


def _dir_id(path):
    try:
        st = os.stat(path)
    except OSError as e:
        raise CryptError("%s: can't open: %s" % (path, e.strerror))
    if not stat.S_ISDIR(st.st_mode):
        raise CryptError("%s: not a directory" % path)
    return st.st_dev, st.st_ino


def open_dir(dirpath, key_path=None):
    """The checkpoint in dirpath: a Checkpoint (encrypted) or a PlainDir,
    once its chain of parents is checked (Documentation/encryption-format.txt,
    section 9).  Read once."""
    dirpath = os.path.normpath(dirpath)
    k = _dir_id(dirpath)
    if k in _walking:
        raise CryptError("%s: a loop of parent links" % dirpath)
    if k in _dirs:
        return _dirs[k]
    _walking.add(k)
    try:
        d = Checkpoint(dirpath, key_path) if is_encrypted(dirpath) else PlainDir(dirpath)
        d.parent = _check_parent(d, key_path)
    finally:
        _walking.discard(k)
    _dirs[k] = d
    return d


def _check_parent(d, key_path):
    """The parent of the checkpoint d (None without a parent link), the
    one d was dumped against."""
    link = os.path.join(d.dir, PARENT_LINK)
    cipher = os.path.join(d.dir, CIPHER_IMG)
    recorded = d.recorded_parent if d.encrypted else None
    if not os.path.lexists(link):
        if recorded is not None:
            raise CryptError("%s: dumped against a parent, but %s has no parent link" % (cipher, d.dir))
        return None
    try:
        st = os.stat(link)
    except OSError as e:
        raise CryptError("%s: a parent link to nowhere (%s)" % (link, e.strerror))
    if not stat.S_ISDIR(st.st_mode):
        raise CryptError("%s: a parent link to no directory" % link)
    pdir = os.path.realpath(link)
    if not d.encrypted:
        if is_encrypted(pdir):
            raise CryptError("%s: a plain checkpoint whose parent %s is encrypted" % (d.dir, pdir))
        return open_dir(pdir, key_path)
    if recorded is None:
        raise CryptError("%s: has a parent link (%s) but records no parent" % (cipher, pdir))
    if not is_encrypted(pdir):
        raise CryptError("%s: missing: the parent of an encrypted checkpoint is a plain one "
                         "(the parent of %s)" % (os.path.join(pdir, CIPHER_IMG), d.dir))
    p = open_dir(pdir, key_path)
    if not hmac.compare_digest(p.digest, recorded):
        raise CryptError("%s: the parent %s is not the checkpoint %s was dumped against" %
                         (cipher, pdir, d.dir))
    return p


def _checkpoint(dirpath, key_path):
    """The keys of the encrypted checkpoint dirpath, its chain checked."""
    d = open_dir(dirpath, key_path)
    if not d.encrypted:
        raise CryptError("%s: no %s: not an encrypted checkpoint" % (dirpath, CIPHER_IMG))
    return d


def open_image(path, key_path=None):
    """A readable binary file of the image's plaintext: the file itself in a
    plain checkpoint, its authenticated plaintext in an encrypted one.
    The directory is opened first (its chain of parents checked).  An
    image that is not there (and that the manifest does not list) is
    Absent."""
    dirpath, name = os.path.split(path)
    if name in STATS or name == CIPHER_IMG:
        # public, unauthenticated: neither the key nor the chain is needed
        return PlainFile(path)
    return open_dir(dirpath or ".", key_path).open_image(name)


def open_page_image(path, key_path=None):
    """A page image read page by page (page(j)): in an encrypted checkpoint
    each page is authenticated when it is read, and only then."""
    dirpath, name = os.path.split(path)
    return open_dir(dirpath or ".", key_path).page_image(name)


def _write_new(path, pieces):
    """A new file path, mode 0600, of the bytes pieces yields."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        for b in pieces:
            while b:
                b = b[os.write(fd, b):]
    finally:
        os.close(fd)


def _pieces(f):
    while True:
        b = f.read(PIECE)
        if not b:
            return
        yield b


def decrypt_dir(src, dst, key_path=None):
    """Write into dst (new, mode 0700) a plain copy of the encrypted
    checkpoint src: the images its manifest lists, decrypted and
    authenticated (files of mode 0600), and nothing else: no tags, no
    statistics, no file the dump did not write.  On an error nothing is
    left of dst."""
    cp = _checkpoint(src, key_path)
    for name in cp.manifest:
        os.close(cp.open_listed(name)[0])  # every one there, and a regular file
    cp.page_tags()
    try:
        os.mkdir(dst, 0o700)
    except OSError as e:
        raise CryptError("%s: can't create: %s" % (dst, e.strerror))
    try:
        os.chmod(dst, 0o700)
        for name in cp.manifest:
            if is_tags_image(name):
                continue
            with cp.open_image(name) as f:
                _write_new(os.path.join(dst, name), _pieces(f))
    except BaseException as e:
        _remove_tree(dst)
        if isinstance(e, OSError):
            raise CryptError("%s: can't write: %s" % (e.filename or dst, e.strerror))
        raise


def _remove_tree(d):
    """Remove the directory d that decrypt_dir made, and the files in it."""
    try:
        for n in os.listdir(d):
            try:
                os.unlink(os.path.join(d, n))
            except OSError:
                pass
        os.rmdir(d)
    except OSError:
        pass
