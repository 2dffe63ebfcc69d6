# SPDX-License-Identifier: GPL-2.0
# A second, independent decoder of encrypted checkpoints, written from
# Documentation/encryption.txt with Python's cryptography (not from the C).
import hashlib
import hmac
import io
import os
import shutil
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from . import images

FORMAT = 1
WRAP, STREAM, PAGES = "rsa-oaep-sha256", "chacha20-poly1305-64k", "aes-256-xts+gmac"
MAGIC = b"CRIUSEAL"
NONCE, TAG, CHUNK, PAGE = 16, 16, 64 << 10, 4096
HDR = len(MAGIC) + NONCE
CIPHER_IMG, MANIFEST, TAGS_IMG = "cipher.img", "manifest.img", "pagetags.img"
DEFAULT_KEY = "/etc/pki/criu/private/key.pem"


class CryptError(Exception):
    """One line: the file and what is wrong with it."""


def _field(v):
    return struct.pack(">H", len(v)) + v


class Checkpoint:
    """The keys of one encrypted images directory."""

    def __init__(self, dirpath, key_path=None):
        self.dir = dirpath
        key_path = key_path or DEFAULT_KEY
        path = os.path.join(dirpath, CIPHER_IMG)
        ce = self._read_cipher_img(path)
        if ce.format != FORMAT:
            raise CryptError("%s: unsupported format version %d" % (path, ce.format))
        for what, have, want in (("key wrap", ce.wrap, WRAP), ("stream", ce.stream, STREAM),
                                 ("page", ce.pages, PAGES)):
            if have != want:
                raise CryptError("%s: unsupported %s algorithm '%s'" % (path, what, have))
        try:
            with open(key_path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise CryptError("%s: can't read: %s" % (key_path, e.strerror))
        try:
            key = serialization.load_pem_private_key(data, None)
        except (ValueError, TypeError):
            try:
                key = serialization.load_der_private_key(data, None)
            except (ValueError, TypeError):
                raise CryptError("%s: not an unencrypted private key" % key_path)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CryptError("%s: the private key is not RSA" % key_path)
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        if hashlib.sha256(spki).digest() != ce.recipient:
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
        for v in (struct.pack(">I", ce.format), ce.id, ce.wrap.encode(), ce.stream.encode(),
                  ce.pages.encode(), ce.recipient, ce.wrapped_key):
            m.update(_field(v))
        if not hmac.compare_digest(m.digest(), ce.mac):
            raise CryptError("%s: authentication failed (tampered)" % path)
        self.manifest = self.open_stream(MANIFEST).decode().split("\n")[:-1]
        self._tags = None

    @staticmethod
    def _read_cipher_img(path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise CryptError("%s: can't read: %s" % (path, e.strerror))
        ce = images.pb.cipher_entry()
        try:
            size = struct.unpack("<I", data[8:12])[0]
            if data[:8] != struct.pack("<II", images.magic.by_name["IMG_COMMON"],
                                       images.magic.by_name["CIPHER"]) or len(data) != 12 + size:
                raise ValueError
            ce.ParseFromString(data[12:12 + size])
        except Exception:
            raise CryptError("%s: malformed" % path)
        return ce

    def derive(self, label, data=b"", n=32):
        return HKDFExpand(hashes.SHA256(), n, label.encode() + b"\0" + data).derive(self.prk)

    def open_stream(self, name):
        """The plaintext of a sealed image, every chunk authenticated."""
        path = os.path.join(self.dir, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise CryptError("%s: can't read: %s" % (name, e.strerror))
        if data[:len(MAGIC)] != MAGIC:
            raise CryptError("%s: not an encrypted image (bad header)" % name)
        payload = len(data) - HDR
        rem = payload % (CHUNK + TAG)
        if payload < TAG or 0 < rem < TAG:
            raise CryptError("%s: truncated (%d bytes)" % (name, len(data)))
        n = payload // (CHUNK + TAG) + (1 if rem else 0)
        aead = ChaCha20Poly1305(self.derive("criu-encrypt v1 stream", data[len(MAGIC):HDR] + name.encode()))
        out = []
        for i in range(n):
            off = HDR + i * (CHUNK + TAG)
            nonce = i.to_bytes(11, "big") + (b"\x01" if i == n - 1 else b"\x00")
            try:
                out.append(aead.decrypt(nonce, data[off:off + CHUNK + TAG], None))
            except InvalidTag:
                raise CryptError("%s: authentication failed at chunk %d "
                                 "(tampered, truncated or not of this checkpoint)" % (name, i))
        return b"".join(out)

    def page_tags(self):
        """{page image name: (salt, tags)} from the records of pagetags.img
        and of the manifest's pagetags-<id>.img."""
        if self._tags is None:
            self._tags = {}
            for name in [TAGS_IMG] + [n for n in self.manifest if n.startswith("pagetags-")]:
                for img, st in self._read_tags(name).items():
                    if img in self._tags:
                        raise CryptError("%s: tags of %s, which another tags image has" % (name, img))
                    self._tags[img] = st
        return self._tags

    def _read_tags(self, tags_img):
        """The records of one tags image, gathered by page image."""
        data, off, tags = self.open_stream(tags_img), 0, {}
        while off < len(data):
            n = data[off]
            end = off + 1 + n + NONCE + 4
            if not n or end > len(data):
                raise CryptError("%s: malformed at byte %d of its plaintext" % (tags_img, off))
            name = data[off + 1:off + 1 + n]
            salt = data[off + 1 + n:end - 4]
            k = struct.unpack(">I", data[end - 4:end])[0]
            have = tags.setdefault(name.decode(errors="replace"), (salt, []))
            if b"\0" in name or have[0] != salt or end + k * TAG > len(data):
                raise CryptError("%s: malformed at byte %d of its plaintext" % (tags_img, off))
            have[1].append(data[end:end + k * TAG])
            off = end + k * TAG
        return {name: (salt, b"".join(t)) for name, (salt, t) in tags.items()}

    def open_pages(self, name):
        """The plaintext of a page image, every page authenticated."""
        pages = self.page_image(name)
        return b"".join(pages.page(j) for j in range(pages.nr))

    def page_image(self, name):
        """A page image whose pages are authenticated and decrypted one by
        one, as they are read: a page nothing reads (punched out of a
        parent by --auto-dedup) is never checked."""
        if name not in self.page_tags():
            raise CryptError("%s: no tags for it in %s" % (name, TAGS_IMG))
        return PageImage(self, name, *self.page_tags()[name])


class PageImage:
    """One page image of an encrypted checkpoint (see Checkpoint.page_image)."""

    def __init__(self, cp, name, salt, tags):
        self.name, self.tags, self.nr = name, tags, len(tags) // TAG
        try:
            with open(os.path.join(cp.dir, name), "rb") as f:
                self.data = f.read()
        except OSError as e:
            raise CryptError("%s: can't read: %s" % (name, e.strerror))
        if len(self.data) != self.nr * PAGE:
            raise CryptError("%s: %d bytes, but %s has the tags of %d pages (truncated or extended)" %
                             (name, len(self.data), TAGS_IMG, self.nr))
        self.kx = cp.derive("criu-encrypt v1 pages xts", salt + name.encode(), 64)
        self.gmac = AESGCM(cp.derive("criu-encrypt v1 pages tag", salt + name.encode()))

    def page(self, j):
        """The plaintext of page j, authenticated."""
        c = self.data[j * PAGE:(j + 1) * PAGE]
        if not hmac.compare_digest(self.gmac.encrypt(b"\0" * 4 + j.to_bytes(8, "big"), b"", c),
                                   self.tags[j * TAG:(j + 1) * TAG]):
            raise CryptError("%s: page %d fails authentication "
                             "(tampered, moved or not of this checkpoint)" % (self.name, j))
        d = Cipher(algorithms.AES(self.kx), modes.XTS(j.to_bytes(8, "little") + bytes(8))).decryptor()
        return d.update(c) + d.finalize()


class _PlainPages:
    """A page image of a plain checkpoint, with PageImage's page()."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()

    def page(self, j):
        return self.data[j * PAGE:(j + 1) * PAGE]


def is_tags_image(name):
    """pagetags.img, or the pagetags-<id>.img of pages a helper process dumped."""
    return name == TAGS_IMG or name.startswith("pagetags-")


def is_encrypted(dirpath):
    return os.path.exists(os.path.join(dirpath, CIPHER_IMG))


_checkpoints = {}


def _checkpoint(dirpath, key_path):
    """The keys of dirpath, read once."""
    if dirpath not in _checkpoints:
        _checkpoints[dirpath] = Checkpoint(dirpath, key_path)
    return _checkpoints[dirpath]


def open_image(path, key_path=None):
    """A readable binary file of the image's plaintext: the file itself in a
    plain checkpoint, its authenticated plaintext in an encrypted one."""
    dirpath, name = os.path.split(os.path.abspath(path))
    f = open(path, "rb")
    if not is_encrypted(dirpath) or name in (CIPHER_IMG, ) or \
            (f.read(len(MAGIC)) != MAGIC and not name.startswith("pages-")):
        f.seek(0)
        return f
    f.close()
    cp = _checkpoint(dirpath, key_path)
    return io.BytesIO(cp.open_pages(name) if name.startswith("pages-") else cp.open_stream(name))


def open_page_image(path, key_path=None):
    """A page image read page by page (page(j)): in an encrypted checkpoint
    each page is authenticated when it is read, and only then."""
    dirpath, name = os.path.split(os.path.abspath(path))
    if not is_encrypted(dirpath):
        return _PlainPages(path)
    return _checkpoint(dirpath, key_path).page_image(name)


def decrypt_dir(src, dst, key_path=None):
    """Write a plain copy of the encrypted checkpoint src into dst (new)."""
    if not is_encrypted(src):
        raise CryptError("%s: no %s: not an encrypted checkpoint" % (src, CIPHER_IMG))
    cp = Checkpoint(src, key_path)
    names = sorted(os.listdir(src))
    for name in cp.manifest:
        if name not in names:
            raise CryptError("%s: missing from the checkpoint (removed)" % name)
    os.makedirs(dst)
    try:
        for name in names:
            path = os.path.join(src, name)
            if name in (CIPHER_IMG, MANIFEST) or is_tags_image(name) or \
                    not os.path.isfile(path):
                continue
            if name.startswith("pages-") and name in cp.manifest:
                data = cp.open_pages(name)
            elif name in cp.manifest:
                data = cp.open_stream(name)
            else:
                with open(path, "rb") as f:
                    if f.read(len(MAGIC)) == MAGIC:
                        raise CryptError("%s: sealed, but not in %s" % (name, MANIFEST))
                shutil.copy2(path, os.path.join(dst, name))
                continue
            with open(os.path.join(dst, name), "wb") as f:
                f.write(data)
    except BaseException:
        shutil.rmtree(dst, ignore_errors=True)
        raise
