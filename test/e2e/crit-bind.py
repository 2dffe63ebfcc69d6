#!/usr/bin/python3
# crit-bind.py DIR KEY PARENT: make the encrypted checkpoint DIR record
# PARENT as the checkpoint it was dumped against, as 'criu dump
# --prev-images-dir' does (Documentation/encryption-format.txt,
# section 9): cipher.img gets the parent's digest, and its MAC is made
# again with the checkpoint key (KEY unwraps it).  For t-crit-untrusted.sh,
# which can't dump real chains on this host (no soft-dirty tracking).
# Written from the format's text, apart from crypt.py's reading of it.
import hashlib
import hmac
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "python"))
from pycriu import crypt, images  # noqa: E402


def raw(*path):
    with open(os.path.join(*path), "rb") as f:
        return f.read()


def lv(v):
    return struct.pack(">H", len(v)) + v


d, key, parent = sys.argv[1:4]
c, m = raw(parent, "cipher.img"), raw(parent, "manifest.img")
digest = hashlib.sha256(b"criu-encrypt v1 parent\0" + struct.pack(">Q", len(c)) + c +
                        struct.pack(">Q", len(m)) + m).digest()
cp = crypt.Checkpoint(d, key)  # the checkpoint key, through the private key
data = raw(d, "cipher.img")
ce = images.pb.cipher_entry()
ce.ParseFromString(data[12:])
ce.parent = digest
mac = hmac.new(cp.derive("criu-encrypt v1 cipher.img"), digestmod=hashlib.sha256)
for v in (struct.pack(">I", ce.format), ce.id, ce.wrap.encode(), ce.stream.encode(), ce.pages.encode(),
          ce.recipient, ce.wrapped_key, ce.parent):
    mac.update(lv(v))
ce.mac = mac.digest()
body = ce.SerializeToString()
with open(os.path.join(d, "cipher.img"), "wb") as f:
    f.write(data[:8] + struct.pack("<I", len(body)) + body)
