#!/usr/bin/python3
# bind-parent.py DIR KEY PARENT: rewrite cipher.img of the encrypted
# checkpoint DIR (which has no parent link yet) so that it records PARENT
# as the checkpoint it was dumped against (Documentation/encryption-format.txt,
# section 9), its MAC made again with the checkpoint key.
# Only the key's holder can do this: it stands for a dump with
# --prev-images-dir, which this host can't make (no soft-dirty tracking).
import hashlib
import hmac
import os
import struct
import sys

from pycriu import crypt, images

d, key, parent = sys.argv[1:4]


def raw(*path):
    with open(os.path.join(*path), "rb") as f:
        return f.read()


def digest(p):
    c, m = raw(p, crypt.CIPHER_IMG), raw(p, crypt.MANIFEST)
    return hashlib.sha256(b"criu-encrypt v1 parent\0" + struct.pack(">Q", len(c)) + c +
                          struct.pack(">Q", len(m)) + m).digest()


cp = crypt.Checkpoint(d, key)
data = raw(d, crypt.CIPHER_IMG)
ce = images.pb.cipher_entry()
ce.ParseFromString(data[12:])
ce.parent = digest(parent)
m = hmac.new(cp.derive("criu-encrypt v1 cipher.img"), digestmod=hashlib.sha256)
for v in (struct.pack(">I", ce.format), ce.id, ce.wrap.encode(), ce.stream.encode(), ce.pages.encode(),
          ce.recipient, ce.wrapped_key, ce.parent):
    m.update(struct.pack(">H", len(v)) + v)
ce.mac = m.digest()
body = ce.SerializeToString()
with open(os.path.join(d, crypt.CIPHER_IMG), "wb") as f:
    f.write(data[:8] + struct.pack("<I", len(body)) + body)
