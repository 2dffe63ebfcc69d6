#!/usr/bin/python3
# crit-bind.py DIR KEY PARENT: make the encrypted checkpoint DIR record
# PARENT as the checkpoint it was dumped against, as 'criu dump
# --prev-images-dir' does (Documentation/encryption-format.txt,
# section 9): cipher.img gets the parent's digest, and its MAC is made
# again with the checkpoint key (KEY unwraps it); its signature, if any,
# goes.  For t-crit-untrusted.sh,
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


def m_of(ce):
    """M of cipher.img: every field but the recipients and the MAC (section 4)"""
    m = lv(struct.pack(">I", ce.format)) + lv(ce.id) + lv(ce.stream.encode()) + lv(ce.pages.encode())
    return m + lv(ce.parent) if ce.HasField("parent") else m


def entry(p):
    ce = images.pb.cipher_entry()
    ce.ParseFromString(raw(p, "cipher.img")[12:])
    return ce


d, key, parent = sys.argv[1:4]
pe, pm = entry(parent), raw(parent, "manifest.img")
m = m_of(pe)
digest = hashlib.sha256(b"criu-encrypt v2 checkpoint\0" + struct.pack(">Q", len(m)) + m + pe.mac +
                        struct.pack(">Q", len(pm)) + pm).digest()
cp = crypt.Checkpoint(d, key)  # the checkpoint key, through the private key
data = raw(d, "cipher.img")
ce = entry(d)
ce.parent = digest
ce.mac = hmac.new(cp.derive("criu-encrypt v2 cipher.img"), m_of(ce), hashlib.sha256).digest()
body = ce.SerializeToString()
with open(os.path.join(d, "cipher.img"), "wb") as f:
    f.write(data[:8] + struct.pack("<I", len(body)) + body)
# a signature of the checkpoint as it was dumped no longer verifies: the bind stands for the dump
if os.path.exists(os.path.join(d, "signature.img")):
    os.unlink(os.path.join(d, "signature.img"))
