# SPDX-License-Identifier: GPL-2.0
# A second, independent decoder of encrypted checkpoints (format 2), written
# from Documentation/encryption-format.txt with Python's cryptography (not
# from the C).  This file is its public API (what CRIT, criu-coredump and
# the tests use as pycriu.crypt.NAME, crypt_base.py's and crypt_pki.py's
# names with it) and the checkpoint: the options of the command line, the
# sealed, page and tags images, cipher.img, the manifest, the digests that
# bind a checkpoint to its parent, the directory and its chain of parents,
# crit decrypt's plain copy, and crit rewrap, which wraps a checkpoint's
# key for other recipients.  crypt_base.py holds what every part uses
# (errors, the format's constants, the options, bounded reads of files),
# crypt_pki.py the keys, the wraps of the checkpoint key for a recipient
# (RSA-OAEP, or ECDH on P-256 or P-384), certificates and signature.img
# (checked by hand against a CA and its CRL).
#
# A checkpoint is untrusted input: whoever can write its directory can put
# anything there, and anyone with the recipient's certificate can make a
# checkpoint that authenticates.  So every file is opened without blocking
# and must be a regular file, only what the manifest lists is read, every
# length read before authentication is bounded by the size of its file,
# files are read in bounded pieces (pages on demand, streams a chunk at a
# time), and every failure is a CryptError: one line naming the file.
import hashlib
import hmac
import io
import os
import stat
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from . import images
from .crypt_base import (BATCH, CHUNK, CIPHER_IMG, CIPHER_MAX, DEFAULT_KEY, FORMAT, HASH, HDR, MAGIC, MANIFEST,
                         MANIFEST_MAX, MAX_CHAIN, MAX_RECIPIENTS, NONCE, PAGE, PAGES, PARENT_LINK, PIECE,
                         RSA_MIN_BITS, SIG_ED25519, SIG_P256, SIG_P384, SIG_RSA, SIGN_MAGIC, SIGNATURE, SIGNATURE_MAX,
                         STATS, STREAM, TAG, TAGS_IMG, VOUCHED_MAX, WRAP_EC, WRAP_RSA, Absent, CryptError, Options,
                         _pb, _parse_message, _pread, _pread_into, describe, open_regular, options, parsing,
                         read_small)
# _keys and _trust: the one cache of each, which configure() empties
from .crypt_pki import (PASS_MAX, _keys, _public_key, _recipient_kind, _trust, _verify_chain, check_signature,
                        key_id, load_certificates, parse_signature, private_key, unwrap, wrap_for)

# the public API: the names of this file and those of crypt_base.py and
# crypt_pki.py that it gives as its own
__all__ = [
    # crypt_base.py
    "FORMAT", "STREAM", "PAGES", "WRAP_RSA", "WRAP_EC", "RSA_MIN_BITS", "MAX_RECIPIENTS", "SIGNATURE",
    "SIGN_MAGIC", "SIGNATURE_MAX", "MAX_CHAIN", "SIG_RSA", "SIG_P256", "SIG_P384", "SIG_ED25519", "MAGIC",
    "NONCE", "TAG", "CHUNK", "PAGE", "HDR", "CIPHER_IMG", "MANIFEST", "TAGS_IMG", "PARENT_LINK", "STATS",
    "DEFAULT_KEY", "CIPHER_MAX", "MANIFEST_MAX", "VOUCHED_MAX", "HASH", "PIECE", "BATCH",
    "CryptError", "describe", "Absent", "parsing", "Options", "options", "open_regular", "read_small",
    # crypt_pki.py
    "PASS_MAX", "key_id", "private_key", "unwrap", "wrap_for", "load_certificates", "parse_signature",
    "check_signature",
    # this file
    "configure", "add_key_arguments", "configure_from_args",
    "PlainFile", "SealedStream", "PlainPages", "PageImage", "PagesReader",
    "cipher_m", "checkpoint_digest", "parse_cipher",
    "is_tags_image", "is_page_image", "is_encrypted", "PlainDir", "Checkpoint", "open_dir", "open_image",
    "open_page_image", "decrypt_dir", "rewrap",
]

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


def configure(**kw):
    """Set options (Options); keys, CAs and checkpoints already read are
    forgotten."""
    for k, v in kw.items():
        if not hasattr(Options, k):
            raise TypeError("no option %s" % k)
        setattr(options, k, v)
    if options.cacrl and not options.cacert:
        raise CryptError("%s: a CRL without a CA (--tls-cacrl needs --tls-cacert)" % options.cacrl)
    _keys.clear()
    _trust.clear()
    _dirs.clear()


def add_key_arguments(parser):
    """The options of a command that opens encrypted checkpoints (crit's,
    criu-coredump's) on its argparse parser; configure_from_args() then
    sets them."""
    parser.add_argument(
        '--tls-key',
        help='the private key that opens an encrypted checkpoint (one with cipher.img); '
        'default %s' % DEFAULT_KEY)
    parser.add_argument(
        '--tls-key-pass-file', metavar='FILE',
        help='the passphrase of an encrypted private key: the first line of FILE '
        '(else the environment variable CRIU_TLS_KEY_PASS)')
    parser.add_argument(
        '--tls-key-any-mode', action='store_true',
        help='accept a private key (or passphrase file) that group or others may read or write')
    parser.add_argument(
        '--tls-cacert', metavar='CA',
        help='trust checkpoints signed by certificates of this CA only: every checkpoint of the '
        'chain must be signed (signature.img)')
    parser.add_argument(
        '--tls-cacrl', metavar='CRL',
        help="the CA's certificate revocation list (with --tls-cacert)")


def configure_from_args(opts, report=None):
    """configure() from the options of add_key_arguments() (opts: a dict,
    or argparse's namespace); report is called with who signed each
    checkpoint opened (one line)."""
    if not isinstance(opts, dict):
        opts = vars(opts)
    configure(key_pass_file=opts.get('tls_key_pass_file'), key_any_mode=bool(opts.get('tls_key_any_mode')),
              cacert=opts.get('tls_cacert'), cacrl=opts.get('tls_cacrl'), report=report)


#
# Images: plain, sealed streams and page images
#

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
# cipher.img (format section 4)
#

def _field(v):
    return struct.pack(">H", len(v)) + v


def cipher_m(ce):
    """M of the cipher_entry ce: what its mac covers (format section 4),
    all but the recipients."""
    m = [struct.pack(">I", ce.format), ce.id, ce.stream.encode(), ce.pages.encode()]
    if ce.HasField("parent"):
        m.append(ce.parent)
    return b"".join(_field(v) for v in m)


def checkpoint_digest(m, mac, manifest):
    """The digest of a checkpoint (format section 9), which names it for
    its children and which its signature signs: of M and mac of its
    cipher.img and of the bytes of its file manifest.img."""
    return hashlib.sha256(b"criu-encrypt v2 checkpoint\0" + struct.pack(">Q", len(m)) + m + mac +
                          struct.pack(">Q", len(manifest)) + manifest).digest()


def parse_cipher(data, path):
    """The cipher_entry of the bytes data of cipher.img (path), every length
    and value checked (format section 4) but the wraps of the recipients."""
    head = struct.pack("<II", images.magic.by_name["IMG_COMMON"], images.magic.by_name["CIPHER"])
    if len(data) < 12 or data[:8] != head:
        raise CryptError("%s: malformed (not a cipher.img: bad magic)" % path)
    if len(data) > CIPHER_MAX:
        raise CryptError("%s: too big (%d bytes)" % (path, len(data)))
    size = struct.unpack("<I", data[8:12])[0]
    if size != len(data) - 12:
        raise CryptError("%s: malformed (an entry of %d bytes in %d)" % (path, size, len(data)))
    _pb("cipher_recipient", path)
    ce = _parse_message(_pb("cipher_entry", path), data[12:], path, "the entry")
    for what, v, n in (("an id", ce.id, 16), ("a mac", ce.mac, HASH)):
        if len(v) != n:
            raise CryptError("%s: malformed (%s of %d bytes)" % (path, what, len(v)))
    if ce.HasField("parent") and len(ce.parent) != HASH:
        raise CryptError("%s: malformed (a parent of %d bytes)" % (path, len(ce.parent)))
    if not 1 <= len(ce.recipients) <= MAX_RECIPIENTS:
        raise CryptError("%s: malformed (%d recipients: 1 to %d)" % (path, len(ce.recipients), MAX_RECIPIENTS))
    ids = set()
    for i, r in enumerate(ce.recipients):
        if len(r.key_id) != HASH:
            raise CryptError("%s: malformed (recipient %d: a key_id of %d bytes)" % (path, i, len(r.key_id)))
        if r.key_id in ids:
            # a writer never writes it: which of the two would be ours?
            raise CryptError("%s: malformed (recipient %d: a key_id twice)" % (path, i))
        ids.add(r.key_id)
    for what, have, want in (("stream", ce.stream, STREAM), ("page", ce.pages, PAGES)):
        if have != want:
            raise CryptError("%s: unsupported %s algorithm '%s'" % (path, what, have[:64]))
    return ce


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


def _report(d):
    """Tell options.report who signed the checkpoints of the chain of d,
    once each, once the whole chain is checked."""
    while d is not None:
        if getattr(d, "signed", None) and not getattr(d, "reported", False):
            d.reported = True
            if options.report:
                options.report(d.signed)
        d = d.parent


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
        if n in (CIPHER_IMG, MANIFEST, SIGNATURE, PARENT_LINK) or n in STATS:
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
        self.key_path = key_path = key_path or DEFAULT_KEY
        path = os.path.join(dirpath, CIPHER_IMG)
        try:
            self.cipher_raw = read_small(path, CIPHER_MAX, "too big")
        except Absent:
            raise CryptError("%s: missing" % path)
        self.entry = ce = parse_cipher(self.cipher_raw, path)
        self.recorded_parent = ce.parent if ce.HasField("parent") else None
        ck = unwrap(ce, path, key_path)
        self.prk = hmac.new(ce.id, ck, hashlib.sha256).digest()  # HKDF-Extract(salt = ID, IKM = K)
        self.m = cipher_m(ce)
        mac = hmac.new(self.derive("criu-encrypt v2 cipher.img"), self.m, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, ce.mac):
            raise CryptError("%s: authentication failed (tampered, or a recipient that wraps another key)" % path)
        self._ck = ck  # for crit rewrap
        self._read_manifest()

    def _read_manifest(self):
        path = os.path.join(self.dir, MANIFEST)
        try:
            raw = read_small(path, MANIFEST_MAX, "too big")
        except Absent:
            raise CryptError("%s: the checkpoint is incomplete (the dump did not finish, "
                             "or its manifest was removed)" % path)
        self.digest = checkpoint_digest(self.m, self.entry.mac, raw)
        with SealedStream(self, MANIFEST, _Source(path, data=raw)) as s:
            text = s.read()
        self.manifest, self.vouched = _parse_manifest(text, path)
        self.listed = set(self.manifest)
        # the signature: before any other image is read
        self.signer, self.signed = check_signature(self.dir, self.digest)

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
        if is_encrypted(dirpath):
            d = Checkpoint(dirpath, key_path)
        elif options.cacert:
            raise CryptError("%s: a plain checkpoint (no %s), not signed: --tls-cacert asks for signed "
                             "checkpoints" % (dirpath, CIPHER_IMG))
        else:
            d = PlainDir(dirpath)
        d.parent = _check_parent(d, key_path)
    finally:
        _walking.discard(k)
    _dirs[k] = d
    if not _walking:
        _report(d)
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


#
# crit rewrap: the checkpoint key for other recipients
#

def rewrap(dirpath, key_path, cert_paths, keep=False, chain=False):
    """Make cipher.img of the encrypted checkpoint dirpath (and with chain,
    of each of its parents) wrap the checkpoint key, which the private key
    key_path unwraps, for the keys of the certificates cert_paths, and
    with keep for its recipients too.  M, mac, the digest and the
    signature stay as they are (recipients are outside M).  Every level is
    checked and made ready before any is written; each cipher.img is then
    replaced atomically.  [(directory, number of recipients)]."""
    if not cert_paths:
        raise CryptError("%s: no certificate to rewrap for (--tls-cert)" % dirpath)
    new = []
    for cp in cert_paths:
        # the recipient's certificate, then any intermediate CAs
        certs = load_certificates(cp)
        pub = _public_key(certs[0], cp, "the certificate")
        _recipient_kind(pub, cp, "certificate's key")
        if options.cacert:
            # as criu dump --encrypt --tls-cacert checks its recipients
            _verify_chain(certs, cp, signer=False)
        kid = key_id(pub)
        for other, okid in new:
            if okid == kid:
                raise CryptError("%s: the same key as %s" % (cp, other))
        new.append((cp, kid))
    if len(new) > MAX_RECIPIENTS:
        raise CryptError("%s: %d recipients, at most %d" % (dirpath, len(new), MAX_RECIPIENTS))
    dirpath = os.path.normpath(dirpath)
    _dir_id(dirpath)
    if not is_encrypted(dirpath):
        raise CryptError("%s: no %s: not an encrypted checkpoint" % (dirpath, CIPHER_IMG))
    # the whole chain checked (parents bound by their digests, signatures),
    # each level opened with key_path; without chain only dirpath
    levels = []
    d = open_dir(dirpath, key_path) if chain else Checkpoint(dirpath, key_path)
    while d is not None:
        levels.append(d)
        d = d.parent if chain else None
    plans = []
    for d in levels:
        path = os.path.join(d.dir, CIPHER_IMG)
        ce = _pb("cipher_entry", path)()
        ce.CopyFrom(d.entry)
        del ce.recipients[:]
        kept = list(d.entry.recipients) if keep else []
        for cp, kid in new:
            if any(hmac.compare_digest(r.key_id, kid) for r in kept):
                raise CryptError("%s: its key is already a recipient of %s (--keep keeps it)" % (cp, path))
        ce.recipients.extend(kept)
        for cp, kid in new:
            ce.recipients.add().CopyFrom(wrap_for(_public_key(load_certificates(cp)[0], cp, "the certificate"),
                                                  d._ck, ce.id, cp))
        if len(ce.recipients) > MAX_RECIPIENTS:
            raise CryptError("%s: %d recipients (%d kept), at most %d" %
                             (path, len(ce.recipients), len(kept), MAX_RECIPIENTS))
        body = ce.SerializeToString()
        data = d.cipher_raw[:8] + struct.pack("<I", len(body)) + body
        # what a reader will read: the same M and mac, so the same digest
        again = parse_cipher(data, path)
        if cipher_m(again) != d.m or again.mac != d.entry.mac:
            raise CryptError("%s: the rewrapped entry would not be the same checkpoint" % path)
        plans.append((d, path, data))
    _report(levels[0])
    for d, path, data in plans:
        _replace(path, data, d.cipher_raw)
    return [(d.dir, len(parse_cipher(data, path).recipients)) for d, path, data in plans]


def _replace(path, data, was):
    """Replace the file path, which must still hold the bytes was, by data:
    a new file in its directory (of path's mode and, for root, owner),
    synced, renamed over path, and the directory synced."""
    dirpath = os.path.dirname(path) or "."
    fd, _ = open_regular(path)
    try:
        st = os.fstat(fd)
        now = _pread(fd, len(was) + 1, 0, path)
    finally:
        os.close(fd)
    if now != was:
        raise CryptError("%s: changed while it was rewrapped" % path)
    tmp = os.path.join(dirpath, ".%s.rewrap-%s" % (os.path.basename(path), os.urandom(8).hex()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise CryptError("%s: can't create: %s" % (tmp, e.strerror))
    try:
        try:
            if os.geteuid() == 0:
                os.fchown(fd, st.st_uid, st.st_gid)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            b = data
            while b:
                b = b[os.write(fd, b):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise CryptError("%s: can't write: %s" % (path, e.strerror))
        raise
    try:
        dfd = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as e:
        raise CryptError("%s: can't sync: %s" % (dirpath, e.strerror))
