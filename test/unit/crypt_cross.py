#!/usr/bin/python3
# Cross-check of cipher.img, format 2 (Documentation/encryption-format.txt,
# sections 3, 4 and 9), between criu's module (criu/crypt-cipher.c,
# crypt-rsa.c, crypt-ecdh.c, crypt-kdf.c, through test/unit/crypt-unit)
# and Python's cryptography with a protobuf coder of its own, as a second
# implementation of the format:
#   crypt_cross.py CRYPT_UNIT PKI_DIR
# criu's cipher.img for an RSA, a P-256 and a P-384 recipient is read and
# opened by Python; Python's are opened by criu, and refused when changed;
# both compute the same MAC and checkpoint digest.
import hashlib
import hmac
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from cryptography.x509.oid import NameOID

unit, pki = sys.argv[1], sys.argv[2]
failed = False
tmp = tempfile.mkdtemp(prefix="crypt-cross.")

STREAM, PAGES = "chacha20-poly1305-64k", "aes-256-xts+gmac"
WRAP_RSA, WRAP_P256, WRAP_P384 = "rsa-oaep-sha256", "ecdh-p256-hkdf-sha256", "ecdh-p384-hkdf-sha256"
MAGICS = (0x54564319, 0x43524950)  # IMG_COMMON_MAGIC, CIPHER_MAGIC


def result(ok, what):
    global failed
    print(("ok - " if ok else "not ok - ") + what)
    failed |= not ok


# protobuf (proto2), the wire format alone: varints and length-delimited fields

def varint(n):
    out = b""
    while n > 0x7f:
        out += bytes([n & 0x7f | 0x80])
        n >>= 7
    return out + bytes([n])


def pb(num, v):
    if isinstance(v, int):
        return varint(num << 3) + varint(v)
    return varint(num << 3 | 2) + varint(len(v)) + v


def pb_fields(data):
    """[(number, value)] of a message; raises ValueError on anything else"""
    out, i = [], 0

    def rd():
        nonlocal i
        n = shift = 0
        while True:
            if i >= len(data):
                raise ValueError("a varint past the end")
            b = data[i]
            i += 1
            n |= (b & 0x7f) << shift
            shift += 7
            if not b & 0x80:
                return n

    while i < len(data):
        key = rd()
        if key & 7 == 0:
            out.append((key >> 3, rd()))
        elif key & 7 == 2:
            n = rd()
            if i + n > len(data):
                raise ValueError("a field past the end")
            out.append((key >> 3, data[i:i + n]))
            i += n
        else:
            raise ValueError("wire type %d" % (key & 7))
    return out


ENTRY = {1: "format", 2: "id", 4: "stream", 5: "pages", 8: "mac", 9: "parent"}
RECIPIENT = {1: "wrap", 2: "key_id", 3: "wrapped_key", 4: "ephemeral"}


def parse_img(data):
    """The entry of a cipher.img file as a dict: recipients a list of dicts,
    numbers the field numbers in the order of the file"""
    m1, m2, size = struct.unpack("<III", data[:12])
    if (m1, m2) != MAGICS or size != len(data) - 12:
        raise ValueError("bad magics or size")
    e = {"numbers": [], "recipients": []}
    for n, v in pb_fields(data[12:]):
        e["numbers"].append(n)
        if n == 10:
            r = {"numbers": []}
            for rn, rv in pb_fields(v):
                r["numbers"].append(rn)
                r[RECIPIENT.get(rn, rn)] = rv
            e["recipients"].append(r)
        else:
            e[ENTRY.get(n, n)] = v
    for k in ("stream", "pages"):
        e[k] = e.get(k, b"").decode(errors="replace")
    for r in e["recipients"]:
        r["wrap"] = r.get("wrap", b"").decode(errors="replace")
    return e


def make_img(e):
    """A cipher.img of the dict e (fields absent when None)"""
    b = pb(1, e["format"]) + pb(2, e["id"]) + pb(4, e["stream"].encode()) + pb(5, e["pages"].encode())
    b += pb(8, e["mac"])
    if e.get("parent") is not None:
        b += pb(9, e["parent"])
    for r in e["recipients"]:
        rb = pb(1, r["wrap"].encode()) + pb(2, r["key_id"]) + pb(3, r["wrapped_key"])
        if r.get("ephemeral") is not None:
            rb += pb(4, r["ephemeral"])
        b += pb(10, rb)
    return struct.pack("<III", MAGICS[0], MAGICS[1], len(b)) + b


# the format

def F(x):
    return len(x).to_bytes(2, "big") + x


def m_of(e):
    m = F(int(e["format"]).to_bytes(4, "big")) + F(e["id"]) + F(e["stream"].encode()) + F(e["pages"].encode())
    return m + (F(e["parent"]) if e.get("parent") is not None else b"")


def prk_of(cid, k):
    return hmac.new(cid, k, hashlib.sha256).digest()


def derive(prk, label, data=b""):
    return HKDFExpand(hashes.SHA256(), 32, label.encode() + b"\0" + data).derive(prk)


def mac_of(e, k):
    key = derive(prk_of(e["id"], k), "criu-encrypt v2 cipher.img")
    return hmac.new(key, m_of(e), hashlib.sha256).digest()


def digest_of(e, manifest):
    m = m_of(e)
    return hashlib.sha256(b"criu-encrypt v2 checkpoint\0" + len(m).to_bytes(8, "big") + m + e["mac"] +
                          len(manifest).to_bytes(8, "big") + manifest).digest()


def stream_key(e, k):
    return derive(prk_of(e["id"], k), "criu-encrypt v1 stream", bytes(16) + b"core-1.img")


def key_id(pub):
    return hashlib.sha256(pub.public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)).digest()


def oaep():
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def kek_of(z, cid, eph, kid):
    return HKDF(hashes.SHA256(), 32, cid, b"criu-encrypt v2 ecdh\0" + eph + kid).derive(z)


def point(pub):
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def wrap_for(pub, k, cid):
    if isinstance(pub, rsa.RSAPublicKey):
        return {"wrap": WRAP_RSA, "key_id": key_id(pub), "wrapped_key": pub.encrypt(k, oaep())}
    e = ec.generate_private_key(pub.curve)
    eph = point(e.public_key())
    wrap = WRAP_P256 if pub.curve.name == "secp256r1" else WRAP_P384
    return {"wrap": wrap, "key_id": key_id(pub), "ephemeral": eph,
            "wrapped_key": ChaCha20Poly1305(kek_of(e.exchange(ec.ECDH(), pub), cid, eph, key_id(pub)))
            .encrypt(bytes(12), k, None)}


def unwrap(priv, r, cid):
    """K of the recipient r with the private key priv, as section 4 says, or None"""
    try:
        if isinstance(priv, rsa.RSAPrivateKey):
            if "ephemeral" in r or r["wrap"] != WRAP_RSA or len(r["wrapped_key"]) != priv.key_size // 8:
                return None
            return priv.decrypt(r["wrapped_key"], oaep())
        n = 65 if priv.curve.name == "secp256r1" else 97
        if len(r.get("ephemeral", b"")) != n or len(r["wrapped_key"]) != 48:
            return None
        peer = ec.EllipticCurvePublicKey.from_encoded_point(priv.curve, r["ephemeral"])
        z = priv.exchange(ec.ECDH(), peer)
        return ChaCha20Poly1305(kek_of(z, cid, r["ephemeral"], r["key_id"])).decrypt(bytes(12), r["wrapped_key"],
                                                                                      None)
    except Exception:
        return None


def load(name):
    cert = x509.load_pem_x509_certificate(open(os.path.join(pki, name + "cert.pem"), "rb").read())
    key = serialization.load_pem_private_key(open(os.path.join(pki, name + "key.pem"), "rb").read(), None)
    return cert.public_key(), key, os.path.join(pki, name + "cert.pem"), os.path.join(pki, name + "key.pem")


def run(*args):
    return subprocess.run([unit] + [str(a) for a in args], capture_output=True, text=True)


def put(name, data):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def err(out):
    """criu's messages, without the log's prefix"""
    return " | ".join(re.sub(r"^Error \([^)]*\): (crypt: )?", "", l) for l in out.stderr.strip().split("\n"))[:200]


keys = {"rsa": load(""), "p256": load("ec-"), "p384": load("ec384-")}
order = ("rsa", "p256", "p384")
manifest = b"core-1.img\ninventory.img\nmanifest-is-not-listed\npagetags.img\n"
mpath = put("manifest", manifest)

# 1. criu's cipher.img for three recipients, read by Python
c_path = os.path.join(tmp, "c.img")
out = run("new", c_path, "-", *[keys[n][2] for n in order])
result(out.returncode == 0, "cross: criu makes a cipher.img for an RSA, a P-256 and a P-384 recipient " + err(out))
try:
    e = parse_img(open(c_path, "rb").read())
except Exception as ex:
    e = {"numbers": [], "recipients": []}
    result(False, "cross: Python parses criu's cipher.img: %s" % ex)
result(e.get("format") == 2 and len(e.get("id", b"")) == 16 and e["stream"] == STREAM and e["pages"] == PAGES and
       len(e.get("mac", b"")) == 32 and "parent" not in e,
       "cross: its format is 2, its id 16 bytes, its algorithms the format's, its mac 32 bytes, no parent")
result(sorted(set(e["numbers"])) == [1, 2, 4, 5, 8, 10] and
       all(sorted(r["numbers"]) in ([1, 2, 3], [1, 2, 3, 4]) for r in e["recipients"]),
       "cross: it has the fields of format 2 alone (not 3, 6, 7: format 1's), each once but the recipients")
rs = e["recipients"]
result(len(rs) == 3 and [r["key_id"] for r in rs] == [key_id(keys[n][0]) for n in order],
       "cross: three recipients in the order of the certificates, each key_id the SHA-256 of the "
       "certificate's SubjectPublicKeyInfo")
ks = []
for n, r, wrap, elen in zip(order, rs, (WRAP_RSA, WRAP_P256, WRAP_P384), (None, 65, 97)):
    shape = r["wrap"] == wrap and (("ephemeral" not in r and len(r["wrapped_key"]) == 384) if elen is None else
                                  (len(r.get("ephemeral", b"")) == elen and r["ephemeral"][0] == 4 and
                                   len(r["wrapped_key"]) == 48))
    k = unwrap(keys[n][1], r, e.get("id", b""))
    ks.append(k)
    result(shape and k is not None and len(k) == 32,
           "cross: recipient %s: the wrap %s, %s; Python unwraps a 32-byte key" %
           (n, wrap, "a wrapped key as long as the modulus, no ephemeral" if elen is None else
            "an uncompressed ephemeral point of %d bytes on the curve, 48 bytes of wrapped key" % elen))
k = ks[0]
result(k is not None and ks[1] == k and ks[2] == k, "cross: the three recipients wrap the same checkpoint key")
if k:
    result(mac_of(e, k) == e["mac"], "cross: Python computes the same MAC, over format, id, stream and pages")
    result(out.stdout.split() == ["stream_key", stream_key(e, k).hex()], "cross: Python derives the same stream key")
out = run("digest", c_path, mpath)
result(out.returncode == 0 and out.stdout.split() == ["digest", digest_of(e, manifest).hex()],
       "cross: criu and Python compute the same checkpoint digest (section 9)")
for n in order:
    out = run("open", keys[n][3], c_path)
    result(out.returncode == 0 and k and out.stdout.split() == ["stream_key", stream_key(e, k).hex()],
           "cross: criu opens its cipher.img with the %s key %s" % (n, err(out)))

# the same with a parent; a second checkpoint has another id, key and ephemeral keys
parent = os.urandom(32)
c2_path = os.path.join(tmp, "c2.img")
out = run("new", c2_path, parent.hex(), keys["p256"][2], keys["rsa"][2])
try:
    e2 = parse_img(open(c2_path, "rb").read())
    k2 = unwrap(keys["p256"][1], e2["recipients"][0], e2["id"])
    ok = (out.returncode == 0 and e2.get("parent") == parent and k2 is not None and mac_of(e2, k2) == e2["mac"] and
          unwrap(keys["rsa"][1], e2["recipients"][1], e2["id"]) == k2)
except Exception:
    ok, e2 = False, None
result(ok, "cross: with a parent: the field holds the parent's digest, and the MAC covers it")
if e2:
    out = run("digest", c2_path, mpath)
    result(out.returncode == 0 and out.stdout.split() == ["digest", digest_of(e2, manifest).hex()],
           "cross: ... and the checkpoint digest too")
    result(e2["id"] != e.get("id") and k2 != k and e2["recipients"][0]["ephemeral"] != rs[1].get("ephemeral"),
           "cross: another checkpoint has another id, key and ephemeral key")

# what criu refuses to write
out = run("new", os.path.join(tmp, "x.img"), "-", os.path.join(pki, "ed-cert.pem"))
result(out.returncode != 0 and "unsupported key type" in out.stderr,
       "cross: criu refuses an Ed25519 recipient: " + err(out))
out = run("new", os.path.join(tmp, "x.img"), "-", os.path.join(pki, "small-cert.pem"))
result(out.returncode != 0 and "2048" in out.stderr, "cross: criu refuses an RSA-1024 recipient: " + err(out))
out = run("new", os.path.join(tmp, "x.img"), "-", keys["rsa"][2], keys["p256"][2], keys["rsa"][2], keys["p256"][2])
try:
    ok = out.returncode == 0 and len(parse_img(open(os.path.join(tmp, "x.img"), "rb").read())["recipients"]) == 2
except Exception:
    ok = False
result(ok, "cross: a certificate given twice is one recipient")
certs = []
for i in range(17):
    priv = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crypt_cross %d (test only)" % i)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(priv.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(priv, hashes.SHA256()))
    certs.append(put("many-%d.pem" % i, cert.public_bytes(serialization.Encoding.PEM)))
out = run("new", os.path.join(tmp, "x.img"), "-", *certs[:16])
try:
    ok = out.returncode == 0 and len(parse_img(open(os.path.join(tmp, "x.img"), "rb").read())["recipients"]) == 16
except Exception:
    ok = False
result(ok, "cross: 16 recipients are written")
out = run("new", os.path.join(tmp, "x.img"), "-", *certs)
result(out.returncode != 0 and "more than 16" in out.stderr, "cross: 17 are refused: " + err(out))

# 2. Python's cipher.img, opened by criu
K, ID = os.urandom(32), os.urandom(16)


def entry(k=K, cid=ID, names=order, parent=None):
    g = {"format": 2, "id": cid, "stream": STREAM, "pages": PAGES, "parent": parent,
         "recipients": [wrap_for(keys[n][0], k, cid) for n in names]}
    g["mac"] = mac_of(g, k)
    return g


def opens(name, g, what, k=K):
    out = run("open", keys[name][3], put("py.img", make_img(g)))
    result(out.returncode == 0 and out.stdout.split() == ["stream_key", stream_key(g, k).hex()],
           "cross: criu opens %s with the %s key and derives Python's stream key %s" % (what, name, err(out)))


def refused(name, g, what, words, data=None):
    out = run("open", keys[name][3], put("py.img", data if data is not None else make_img(g)))
    result(out.returncode != 0 and all(w in out.stderr for w in words),
           "cross: %s is refused with the %s key: %s" % (what, name, err(out)))


g = entry()
for n in order:
    opens(n, g, "Python's cipher.img for three recipients")
g = entry(parent=os.urandom(32))
opens("p256", g, "Python's cipher.img with a parent")
h = dict(g, parent=None)
refused("rsa", h, "it without its parent (the MAC unchanged)", ["authentication failed"])
refused("p256", dict(g, parent=g["parent"][:31]), "a parent of 31 bytes", ["malformed"])

g = entry()
other = os.path.join(pki, "other-key.pem")
out = run("open", other, put("py.img", make_img(g)))
result(out.returncode != 0 and "encrypted for" in out.stderr,
       "cross: a key of no recipient is refused: " + err(out))
refused("rsa", dict(g, format=1), "format 1", ["unsupported format version"])
refused("rsa", dict(g, pages="aes-256-xts"), "another page algorithm", ["unsupported page algorithm"])
refused("rsa", dict(g, stream="chacha20-poly1305"), "another stream algorithm", ["unsupported stream algorithm"])
refused("rsa", dict(g, id=os.urandom(16)), "a changed checkpoint id", ["authentication failed"])
refused("p256", dict(g, id=os.urandom(16)), "a changed checkpoint id (the EC wrap is bound to it)", [])
refused("rsa", dict(g, recipients=[]), "no recipient", ["malformed"])
refused("rsa", dict(g, id=ID[:15]), "an id of 15 bytes", ["malformed"])
refused("rsa", dict(g, mac=g["mac"][:31]), "a mac of 31 bytes", ["malformed"])
bad = bytearray(g["mac"])
bad[5] ^= 1
refused("p384", dict(g, mac=bytes(bad)), "a changed mac", ["authentication failed"])


def with_recipient(g, i, **kw):
    rs = [dict(r) for r in g["recipients"]]
    rs[i].update(kw)
    for k, v in kw.items():
        if v is None:
            del rs[i][k]
    return dict(g, recipients=rs)


# the EC recipient, changed
eph = g["recipients"][1]["ephemeral"]
P256 = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff
x, y = eph[1:33], int.from_bytes(eph[33:], "big")
off = bytearray(eph)
off[-1] ^= 1
refused("p256", with_recipient(g, 1, ephemeral=bytes(off)), "an ephemeral key off the curve", ["not a point"])
refused("p256", with_recipient(g, 1, ephemeral=b"\x04" + x + P256.to_bytes(32, "big")),
        "an ephemeral key with Y = p", ["not a point"])
refused("p256", with_recipient(g, 1, ephemeral=b"\x04" + x + (P256 - y).to_bytes(32, "big")),
        "the ephemeral key negated (the same Z: the wrap binds the point)", ["unwrap"])
refused("p256", with_recipient(g, 1, ephemeral=bytes([2 + (y & 1)]) + x), "a compressed ephemeral key",
        ["malformed"])
refused("p256", with_recipient(g, 1, ephemeral=b"\x06" + eph[1:]), "a hybrid ephemeral key (0x06)", ["malformed"])
refused("p256", with_recipient(g, 1, ephemeral=eph[:64]), "an ephemeral key of 64 bytes", ["malformed"])
refused("p256", with_recipient(g, 1, ephemeral=eph + b"\0"), "an ephemeral key of 66 bytes", ["malformed"])
refused("p256", with_recipient(g, 1, ephemeral=None), "an EC recipient without an ephemeral key", ["malformed"])
refused("p256", with_recipient(g, 1, ephemeral=g["recipients"][2]["ephemeral"]),
        "a P-384 ephemeral key for a P-256 recipient", ["malformed"])
refused("p256", with_recipient(g, 1, wrapped_key=g["recipients"][1]["wrapped_key"][:47]),
        "a wrapped key of 47 bytes", ["malformed"])
bad = bytearray(g["recipients"][1]["wrapped_key"])
bad[40] ^= 0x80
refused("p256", with_recipient(g, 1, wrapped_key=bytes(bad)), "a changed tag of the wrapped key", ["unwrap"])
refused("p256", with_recipient(g, 1, wrap=WRAP_P384), "a P-256 recipient named " + WRAP_P384, [])
refused("p256", with_recipient(g, 1, wrap=WRAP_RSA), "a P-256 recipient named " + WRAP_RSA, [])
refused("p256", with_recipient(g, 1, **wrap_for(keys["p256"][0], os.urandom(32), ID)),
        "a P-256 recipient of another key than the MAC's", ["authentication failed"])
# the RSA recipient, changed
refused("rsa", with_recipient(g, 0, ephemeral=eph), "an RSA recipient with an ephemeral key", [])
refused("rsa", with_recipient(g, 0, wrap=WRAP_P256), "an RSA recipient named " + WRAP_P256, [])
refused("rsa", with_recipient(g, 0, wrapped_key=g["recipients"][0]["wrapped_key"][1:]),
        "an RSA wrapped key shorter than the modulus", [])
refused("rsa", with_recipient(g, 0, **wrap_for(keys["rsa"][0], os.urandom(32), ID)),
        "an RSA recipient of another key than the MAC's", ["authentication failed"])

# the recipients of other keys are ignored, whatever they hold; 16 at most, each key_id of 32 bytes
junk = [r for _ in range(7) for r in ({"wrap": "x448-hkdf-sha512", "key_id": os.urandom(32), "wrapped_key": b"?"},
                                      {"wrap": WRAP_P256, "key_id": os.urandom(32), "wrapped_key": b"",
                                       "ephemeral": b"\x04"})]
many = dict(g, recipients=junk + g["recipients"][:2])
opens("p256", many, "16 recipients, 14 of other keys with unknown wraps or malformed wraps")
refused("p256", dict(many, recipients=many["recipients"] + [junk[0]]), "17 recipients", ["malformed"])
refused("p256", dict(g, recipients=g["recipients"] + g["recipients"][:1]), "two recipients of one key id",
        ["malformed"])
refused("p256", dict(g, recipients=[dict(junk[0], key_id=os.urandom(31))] + g["recipients"]),
        "a recipient with a key_id of 31 bytes", ["malformed"])

# a private key that others may read
loose = os.path.join(tmp, "loose-key.pem")
shutil.copyfile(keys["p256"][3], loose)
os.chmod(loose, 0o644)
out = run("open", loose, put("py.img", make_img(g)))
result(out.returncode != 0 and "group or others" in out.stderr,
       "cross: a private key readable by others (mode 644) is refused: " + err(out))

# 3. without random bytes: no checkpoint, and no wrap (which returns)
out = run("norandom", keys["rsa"][2], keys["p256"][2], keys["p384"][2])
for line in out.stdout.splitlines():
    print(line.replace("ok - ", "ok - cross: ", 1) if line.startswith(("ok - ", "not ok - ")) else line)
failed |= out.returncode != 0

shutil.rmtree(tmp)
sys.exit(1 if failed else 0)
