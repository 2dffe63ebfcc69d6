#!/usr/bin/python3
# The test vectors of Documentation/encryption-format.txt, derived again by
# CRIT's decoder (lib/pycriu/crypt.py) from the files of the checkpoint and
# the key; the checkpoint key K itself by Python's cryptography.
#
# usage: check.py CKPT KEY VECTORS   ("ok - ..." lines; exit 1 on a mismatch)
import hashlib
import hmac
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pycriu import crypt

failed = False


def result(ok, what):
    global failed
    print("%s - vectors (crit): %s" % ("ok" if ok else "not ok", what))
    failed |= not ok


def main():
    ckpt, key_path, vec_path = sys.argv[1:4]
    v = {}
    for line in open(vec_path):
        if line.startswith("#") or " = " not in line:
            continue
        name, value = line.rstrip("\n").split(" = ", 1)
        v[name] = value
    h = bytes.fromhex

    # the vectors' key is a throwaway one, public (format section 10): its
    # file's mode is whatever the checkout made it
    crypt.configure(key_any_mode=True)
    cp = crypt.open_dir(ckpt, key_path)
    result(True, "the checkpoint opens (cipher.img, the manifest)")
    raw = open(ckpt + "/cipher.img", "rb").read()
    ce = crypt.parse_cipher(raw, "cipher.img")
    rsa_rcpts = [r for r in ce.recipients if r.wrap == "rsa-oaep-sha256"]
    key = serialization.load_pem_private_key(open(key_path, "rb").read(), None)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ok = ce.format == 2 and len(rsa_rcpts) == 1 and rsa_rcpts[0].key_id == hashlib.sha256(spki).digest()
    k = key.decrypt(rsa_rcpts[0].wrapped_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                          algorithm=hashes.SHA256(), label=None)) if ok else b""
    result(ok and k == h(v["K"]) and ce.id == h(v["ID"]) and ce.mac == h(v["mac"]) and
           rsa_rcpts[0].key_id == h(v["recipient"]) and not rsa_rcpts[0].HasField("ephemeral"),
           "format 2, K (RSA-OAEP of the only RSA recipient), ID, recipient (its key_id), mac")
    mac_key = cp.derive("criu-encrypt v2 cipher.img")
    result(cp.prk == h(v["PRK"]) == hmac.new(ce.id, k, hashlib.sha256).digest() and mac_key == h(v["mac_key"]),
           "PRK and the MAC key")

    # M and mac by hand (format section 4), and the checkpoint's digest
    # (section 9), which crypt.py binds parents by
    def f(x):
        return struct.pack(">H", len(x)) + x
    m = f(struct.pack(">I", ce.format)) + f(ce.id) + f(ce.stream.encode()) + f(ce.pages.encode())
    if ce.HasField("parent"):
        m += f(ce.parent)
    man = open(ckpt + "/manifest.img", "rb").read()
    digest = hashlib.sha256(b"criu-encrypt v2 checkpoint\0" + struct.pack(">Q", len(m)) + m + ce.mac +
                            struct.pack(">Q", len(man)) + man).digest()
    result(m == crypt.cipher_m(ce) and hmac.new(mac_key, m, hashlib.sha256).digest() == ce.mac,
           "M (without the recipients) and mac")
    result("digest" in v and digest == h(v["digest"]) == cp.digest, "the checkpoint's digest")

    name = v["stream.name"]
    raw = open(ckpt + "/" + name, "rb").read()
    n = raw[8:24]
    skey = cp.derive("criu-encrypt v1 stream", n + name.encode())
    result(raw[:8] == b"CRIUSEAL" and n == h(v["stream.N"]) and skey == h(v["stream.key"]),
           "the stream's magic, N and key")
    plain = cp.open_stream(name)
    ok = len(plain) == int(v["stream.length"]) and plain == bytes(i % 251 for i in range(len(plain)))
    result(ok and hashlib.sha256(plain).hexdigest() == v["stream.plaintext.sha256"],
           "the stream opens to the plaintext (byte i = i mod 251)")
    ok = True
    for i in range(2):
        nonce = i.to_bytes(11, "big") + (b"\x01" if i == 1 else b"\x00")
        sealed = ChaCha20Poly1305(skey).encrypt(nonce, plain[i * 65536:(i + 1) * 65536], None)
        ok &= nonce == h(v["stream.chunk%d.nonce" % i]) and sealed[-16:] == h(v["stream.chunk%d.tag" % i])
        ok &= raw[24 + i * (65536 + 16):24 + i * (65536 + 16) + len(sealed)] == sealed
    result(ok, "both chunks: nonce, ciphertext and tag")

    result(cp.open_image("manifest.img").read() == v["manifest.plaintext"].replace("\\n", "\n").encode() and
           cp.open_stream("pagetags.img") == h(v["pagetags.plaintext"]), "the manifest's and pagetags.img's plaintext")
    pname = v["pages.name"]
    salt, tags = cp.page_tags()[pname]
    kx = cp.derive("criu-encrypt v1 pages xts", salt + pname.encode(), 64)
    kt = cp.derive("criu-encrypt v1 pages tag", salt + pname.encode())
    result(salt == h(v["pages.salt"]) and kx == h(v["pages.Kx"]) and kt == h(v["pages.Kt"]),
           "the page salt, Kx and Kt")
    pages = cp.open_pages(pname)
    raw = open(ckpt + "/" + pname, "rb").read()
    ok = pages == bytes((j * 131 + i) & 0xff for j in range(2) for i in range(4096))
    for j in range(2):
        tweak = j.to_bytes(8, "little") + bytes(8)
        gnonce = bytes(4) + j.to_bytes(8, "big")
        e = Cipher(algorithms.AES(kx), modes.XTS(tweak)).encryptor()
        c = e.update(pages[j * 4096:(j + 1) * 4096]) + e.finalize()
        ok &= tweak == h(v["page%d.tweak" % j]) and gnonce == h(v["page%d.gmac_nonce" % j])
        ok &= c == raw[j * 4096:(j + 1) * 4096] and hashlib.sha256(c).hexdigest() == v["page%d.ciphertext.sha256" % j]
        ok &= AESGCM(kt).encrypt(gnonce, b"", c) == h(v["page%d.tag" % j]) == tags[j * 16:(j + 1) * 16]
    result(ok, "both pages: tweak, GMAC nonce, ciphertext and tag; they open to the plaintext")

    # a page a dump --lazy-pages serves from memory (format section 11)
    lname, j = v["lazy.name"], int(v["lazy.address"], 16) // 4096
    kx = cp.derive("criu-encrypt v1 pages xts", bytes(16) + lname.encode(), 64)
    kt = cp.derive("criu-encrypt v1 pages tag", bytes(16) + lname.encode())
    tweak = j.to_bytes(8, "little") + bytes(8)
    gnonce = bytes(4) + j.to_bytes(8, "big")
    e = Cipher(algorithms.AES(kx), modes.XTS(tweak)).encryptor()
    c = e.update(bytes((2 * 131 + i) & 0xff for i in range(4096))) + e.finalize()
    result(kx == h(v["lazy.Kx"]) and kt == h(v["lazy.Kt"]) and tweak == h(v["lazy.tweak"]) and
           gnonce == h(v["lazy.gmac_nonce"]) and hashlib.sha256(c).hexdigest() == v["lazy.ciphertext.sha256"] and
           AESGCM(kt).encrypt(gnonce, b"", c) == h(v["lazy.tag"]),
           "a lazy page of a dump --lazy-pages: keys, tweak, GMAC nonce, ciphertext and tag")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (crypt.CryptError, KeyError, ValueError, OSError) as e:
        # a checkpoint that does not open, a value missing from vectors.txt
        print("not ok - vectors (crit): %s" % crypt.describe(e))
        sys.exit(1)
