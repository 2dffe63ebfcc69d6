#!/usr/bin/python3
# Cross-check of the key wrap and key derivation of criu/crypt-cipher.c,
# crypt-rsa.c and crypt-kdf.c with Python's cryptography, as an independent implementation of the format
# (Documentation/encryption-format.txt):
#   crypt_cross.py CRYPT_UNIT PKI_DIR
import hashlib
import hmac
import os
import subprocess
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography import x509

unit, pki = sys.argv[1], sys.argv[2]
failed = False


def result(ok, what):
    global failed
    print(("ok - " if ok else "not ok - ") + what)
    failed |= not ok


def oaep():
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def derive(prk, label, data=b""):
    return HKDFExpand(hashes.SHA256(), 32, label.encode() + b"\0" + data).derive(prk)


def header_mac(prk, f):
    key = derive(prk, "criu-encrypt v1 cipher.img")
    m = hmac.new(key, digestmod=hashlib.sha256)
    for v in (int(f["format"]).to_bytes(4, "big"), f["id"], f["wrap"].encode(), f["stream"].encode(),
              f["pages"].encode(), f["recipient"], f["wrapped_key"]):
        m.update(len(v).to_bytes(2, "big") + v)
    return m.digest()


def stream_key(prk):
    return derive(prk, "criu-encrypt v1 stream", bytes(16) + b"core-1.img")


cert = x509.load_pem_x509_certificate(open(pki + "/cert.pem", "rb").read())
key = serialization.load_pem_private_key(open(pki + "/key.pem", "rb").read(), None)
spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)

# criu's cipher.img entry, opened by Python
out = subprocess.run([unit, "new", pki + "/cert.pem"], capture_output=True, text=True)
f = dict(l.split(" ", 1) for l in out.stdout.split("\n") if " " in l)
for k in ("id", "recipient", "wrapped_key", "mac", "stream_key"):
    f[k] = bytes.fromhex(f.get(k, ""))
result(out.returncode == 0 and f.get("wrap") == "rsa-oaep-sha256", "cross: criu makes a cipher.img entry")
result(f["recipient"] == hashlib.sha256(spki).digest(),
       "cross: its recipient is the SHA-256 of the certificate's SubjectPublicKeyInfo")
try:
    ck = key.decrypt(f["wrapped_key"], oaep())
except ValueError:
    ck = b""
result(len(ck) == 32, "cross: Python's RSA-OAEP-SHA256 unwraps criu's checkpoint key")
prk = hmac.new(f["id"], ck, hashlib.sha256).digest()
result(header_mac(prk, f) == f["mac"], "cross: Python computes the same cipher.img MAC")
result(stream_key(prk) == f["stream_key"], "cross: Python derives the same stream key")

# a cipher.img entry made by Python, opened by criu's code
ck = os.urandom(32)
g = {"format": "1", "wrap": "rsa-oaep-sha256", "stream": f["stream"], "pages": f["pages"],
     "id": os.urandom(16), "recipient": hashlib.sha256(spki).digest(),
     "wrapped_key": cert.public_key().encrypt(ck, oaep())}
prk = hmac.new(g["id"], ck, hashlib.sha256).digest()
g["mac"] = header_mac(prk, g)
args = [g["format"], g["wrap"], g["stream"], g["pages"]] + \
    [g[k].hex() for k in ("id", "recipient", "wrapped_key", "mac")]
out = subprocess.run([unit, "open", pki + "/key.pem"] + args, capture_output=True, text=True)
result(out.returncode == 0 and out.stdout.split() == ["stream_key", stream_key(prk).hex()],
       "cross: criu opens Python's cipher.img entry and derives the same stream key")

# and refuses it with the wrong key, or with a field changed
out = subprocess.run([unit, "open", pki + "/other-key.pem"] + args, capture_output=True, text=True)
result(out.returncode != 0 and "encrypted for another key" in out.stderr,
       "cross: another private key is refused: " + out.stderr.strip())
bad = list(args)
bad[3] = "aes-256-xts"
out = subprocess.run([unit, "open", pki + "/key.pem"] + bad, capture_output=True, text=True)
result(out.returncode != 0 and "unsupported page algorithm" in out.stderr,
       "cross: an unknown algorithm is refused: " + out.stderr.strip())
bad = list(args)
bad[4] = os.urandom(16).hex()
out = subprocess.run([unit, "open", pki + "/key.pem"] + bad, capture_output=True, text=True)
result(out.returncode != 0 and "authentication failed" in out.stderr,
       "cross: a changed checkpoint id is refused: " + out.stderr.strip())
sys.exit(1 if failed else 0)
