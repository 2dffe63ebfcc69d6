#!/usr/bin/python3
# reseal-tags.py DIR KEY drop|cut|resalt: seal pagetags.img of the
# encrypted checkpoint DIR again with its key (so it authenticates), its
# records changed: drop every record of the first page image (prints its
# name), cut the last record one byte short (prints the offset of that
# record), or add a record of no tags for the first page image with
# another salt (prints its offset).
# Only the key's holder can do this; criu and crit must still refuse it.
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pycriu import crypt

d, key, how = sys.argv[1:4]
cp = crypt.Checkpoint(d, key)
data = cp.open_stream(crypt.TAGS_IMG)
recs, off = [], 0
while off < len(data):
    n = data[off]
    end = off + 1 + n + crypt.NONCE + 4
    k = struct.unpack(">I", data[end - 4:end])[0]
    recs.append((data[off + 1:off + 1 + n].decode(), off, data[off:end + k * crypt.TAG]))
    off = end + k * crypt.TAG
if how == "drop":
    out = b"".join(r for name, _, r in recs if name != recs[0][0])
    print(recs[0][0])
elif how == "cut":
    out = data[:-1]
    print(recs[-1][1])
else:
    name = recs[0][0].encode()
    out = data + bytes([len(name)]) + name + os.urandom(crypt.NONCE) + bytes(4)
    print(len(data))

nonce = os.urandom(crypt.NONCE)
aead = ChaCha20Poly1305(cp.derive("criu-encrypt v1 stream", nonce + crypt.TAGS_IMG.encode()))
chunks = [out[i:i + crypt.CHUNK] for i in range(0, len(out), crypt.CHUNK)] or [b""]
with open(os.path.join(d, crypt.TAGS_IMG), "wb") as f:
    f.write(crypt.MAGIC + nonce)
    for i, c in enumerate(chunks):
        f.write(aead.encrypt(i.to_bytes(11, "big") + (b"\x01" if i == len(chunks) - 1 else b"\x00"), c, None))
