# SPDX-License-Identifier: GPL-2.0
# The PKI of CRIT's decoder of encrypted checkpoints (crypt.py): private
# keys and their passphrases, read with bounds and checks (no one else may
# read a key, a passphrase is never on the command line), key ids, the
# wraps of the checkpoint key for a recipient (RSA-OAEP, or ECDH on P-256
# or P-384), certificates, and signature.img, whose signer's certificate
# is checked against a CA and its CRL by hand: this cryptography has no
# path validation.  Documentation/encryption-format.txt, sections 4 and 12.
import datetime
import hashlib
import hmac
import os
import stat
import struct

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .crypt_base import (MAX_CHAIN, PIECE, RSA_MIN_BITS, SIG_ED25519, SIG_P256, SIG_P384, SIG_RSA, SIGN_MAGIC,
                         SIGNATURE, SIGNATURE_MAX, WRAP_EC, WRAP_RSA, Absent, CryptError, _pb, _parse_message,
                         _pread, describe, options, read_small)

#
# Private keys and their passphrases
#

_keys = {}


def key_id(public_key):
    """The id of a public key: the SHA-256 of it as a DER SubjectPublicKeyInfo."""
    return hashlib.sha256(public_key.public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)).digest()


def private_key(path):
    """(the private key of the file path, its id: key_id()), read once
    (checking a key takes a while).  RSA of 2048 bits or more, or EC on
    P-256 or P-384: the keys a recipient may have (format section 4)."""
    if path not in _keys:
        key = _load_private_key(_read_secret(path, "private key"), path)
        _recipient_kind(key.public_key(), path, "private key")
        _keys[path] = key, key_id(key.public_key())
    return _keys[path]


def _recipient_kind(pub, path, what):
    """The wrap of a recipient's public key pub (format section 4), or
    an error naming path."""
    if isinstance(pub, rsa.RSAPublicKey):
        if pub.key_size < RSA_MIN_BITS:
            raise CryptError("%s: the %s is RSA of %d bits (at least %d)" % (path, what, pub.key_size, RSA_MIN_BITS))
        return WRAP_RSA
    if isinstance(pub, ec.EllipticCurvePublicKey):
        if pub.curve.name not in WRAP_EC:
            raise CryptError("%s: unsupported key type (EC on %s; P-256 or P-384)" % (path, pub.curve.name))
        return WRAP_EC[pub.curve.name][0]
    raise CryptError("%s: unsupported key type (%s; RSA of %d bits or more, or EC on P-256 or P-384)" %
                     (path, _key_type(pub), RSA_MIN_BITS))


def _key_type(pub):
    for cls, name in ((ed25519.Ed25519PublicKey, "Ed25519"), (ed448.Ed448PublicKey, "Ed448"),
                      (rsa.RSAPublicKey, "RSA"), (ec.EllipticCurvePublicKey, "EC")):
        if isinstance(pub, cls):
            return name
    return type(pub).__name__.replace("_", "").replace("PublicKey", "") or "?"


def _load_private_key(data, path):
    """The private key of the PEM or DER data of the file path; an
    encrypted one (PKCS#8, or OpenSSL's PEM) with the passphrase."""
    load = serialization.load_pem_private_key if b"-----BEGIN" in data else serialization.load_der_private_key
    try:
        return load(data, None)
    except TypeError:
        pass  # encrypted: a passphrase is needed
    except (ValueError, UnsupportedAlgorithm):
        raise CryptError("%s: not a private key (PEM or DER)" % path)
    except Exception as e:
        raise CryptError("%s: not a private key (%s)" % (path, describe(e)))
    password = _passphrase(path)
    try:
        return load(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CryptError("%s: can't decrypt the private key (a wrong passphrase?)" % path)
    except Exception as e:
        raise CryptError("%s: can't decrypt the private key (%s)" % (path, describe(e)))


def _passphrase(key_path):
    """The passphrase of the encrypted private key key_path: the first
    line of options.key_pass_file, without its newline, or else the
    environment's CRIU_TLS_KEY_PASS (never the command line: any user
    sees it)."""
    if options.key_pass_file:
        data = _read_secret(options.key_pass_file, "passphrase file", PASS_MAX)
        password = data.split(b"\n", 1)[0]
    elif os.environb.get(b"CRIU_TLS_KEY_PASS") is not None:
        password = os.environb[b"CRIU_TLS_KEY_PASS"]
    else:
        raise CryptError("%s: an encrypted private key: its passphrase is the first line of "
                         "--tls-key-pass-file FILE, or $CRIU_TLS_KEY_PASS" % key_path)
    if not password:
        raise CryptError("%s: an empty passphrase (from %s)" %
                         (key_path, options.key_pass_file or "$CRIU_TLS_KEY_PASS"))
    return password


PASS_MAX = 4096


def _read_secret(path, what, limit=PIECE):
    """A private key file or a passphrase file (the user's own: a symlink
    is fine; a passphrase may also come through a pipe, as from bash's
    <(...)), of at most limit bytes, that neither group nor others may
    read or write (unless options.key_any_mode)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise CryptError("%s: can't read: %s" % (path, e.strerror))
    try:
        st = os.fstat(fd)
        pipe = stat.S_ISFIFO(st.st_mode) and what == "passphrase file"
        if not (stat.S_ISREG(st.st_mode) or pipe):
            raise CryptError("%s: can't read the %s: not a regular file" % (path, what))
        if st.st_mode & 0o077 and not options.key_any_mode:
            raise CryptError("%s: the %s is open to group or others (mode %04o): chmod go= it, or give "
                             "--tls-key-any-mode" % (path, what, stat.S_IMODE(st.st_mode)))
        if not pipe:
            if st.st_size > limit:
                raise CryptError("%s: can't read the %s: more than %d bytes" % (path, what, limit))
            return _pread(fd, limit, 0, path)
        # a pipe: what comes up to the first newline, waiting for it
        os.set_blocking(fd, True)
        out = b""
        while len(out) < limit and b"\n" not in out:
            try:
                b = os.read(fd, limit - len(out))
            except OSError as e:
                raise CryptError("%s: can't read: %s" % (path, e.strerror))
            if not b:
                break
            out += b
        return out
    finally:
        os.close(fd)


#
# The wraps of the checkpoint key for a recipient (format section 4)
#

def unwrap(ce, path, key_path):
    """K, the checkpoint key, of the cipher_entry ce of cipher.img (path),
    with the private key of the file key_path (format section 4, steps 1
    to 3; the caller checks mac)."""
    key, kid = private_key(key_path)
    mine = [r for r in ce.recipients if hmac.compare_digest(r.key_id, kid)]
    if not mine:
        # before any operation of the private key; the other recipients
        # are not looked at
        raise CryptError("%s: the checkpoint is encrypted for another key than %s (none of its %d recipient%s)" %
                         (path, key_path, len(ce.recipients), "s" if len(ce.recipients) > 1 else ""))
    r = mine[0]
    want = _recipient_kind(key.public_key(), key_path, "private key")
    if r.wrap != want:
        raise CryptError("%s: the recipient of %s has the wrap '%s', not %s for its key" %
                         (path, key_path, r.wrap[:64], want))
    ck = b""
    if want == WRAP_RSA:
        if r.HasField("ephemeral"):
            raise CryptError("%s: malformed (an ephemeral key with the wrap %s)" % (path, WRAP_RSA))
        if len(r.wrapped_key) != (key.key_size + 7) // 8:
            raise CryptError("%s: malformed (a wrapped key of %d bytes for a modulus of %d)" %
                             (path, len(r.wrapped_key), (key.key_size + 7) // 8))
        try:
            # OpenSSL blinds the RSA operation; every padding error is
            # the same ValueError
            ck = key.decrypt(r.wrapped_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                         algorithm=hashes.SHA256(), label=None))
        except ValueError:
            ck = b""
    else:
        plen = WRAP_EC[key.curve.name][1]
        if not r.HasField("ephemeral") or len(r.ephemeral) != plen or r.ephemeral[:1] != b"\x04":
            raise CryptError("%s: malformed (the ephemeral key of %s is not an uncompressed point of %d bytes)" %
                             (path, r.wrap, plen))
        if len(r.wrapped_key) != 48:
            raise CryptError("%s: malformed (a wrapped key of %d bytes, not 48)" % (path, len(r.wrapped_key)))
        try:
            # OpenSSL checks that the point is on the curve
            peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, r.ephemeral)
        except (ValueError, UnsupportedAlgorithm):
            raise CryptError("%s: malformed (the ephemeral key of %s is not a point of the curve)" % (path, r.wrap))
        try:
            z = key.exchange(ec.ECDH(), peer)
        except ValueError:
            raise CryptError("%s: malformed (the ephemeral key of %s is not a point of the curve)" % (path, r.wrap))
        try:
            ck = ChaCha20Poly1305(_ecdh_kek(z, ce.id, r.ephemeral, r.key_id)).decrypt(bytes(12), r.wrapped_key, None)
        except InvalidTag:
            ck = b""
    if len(ck) != 32:
        raise CryptError("%s: can't unwrap the checkpoint key with %s (damaged)" % (path, key_path))
    return ck


def _ecdh_kek(z, cid, ephemeral, kid):
    return HKDF(hashes.SHA256(), 32, cid, b"criu-encrypt v2 ecdh\0" + ephemeral + kid).derive(z)


def wrap_for(pub, ck, cid, path):
    """A new cipher_recipient that wraps the checkpoint key ck of the
    checkpoint of id cid for the public key pub (of the certificate path)."""
    r = _pb("cipher_recipient", path)()
    r.wrap = _recipient_kind(pub, path, "certificate's key")
    r.key_id = key_id(pub)
    if r.wrap == WRAP_RSA:
        r.wrapped_key = pub.encrypt(ck, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                     algorithm=hashes.SHA256(), label=None))
        return r
    e = ec.generate_private_key(pub.curve)  # for this recipient of this checkpoint alone
    r.ephemeral = e.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
    kek = _ecdh_kek(e.exchange(ec.ECDH(), pub), cid, r.ephemeral, r.key_id)
    r.wrapped_key = ChaCha20Poly1305(kek).encrypt(bytes(12), ck, None)
    return r


#
# Certificates, signature.img (format section 12) and the chain of its
# signer to the CA
#

def load_certificates(path, what="certificate", limit=PIECE):
    """The X.509 certificates of the file path: PEM (one or more) or DER."""
    try:
        data = read_small(path, limit, "too big")
    except Absent:
        raise CryptError("%s: can't read the %s: no such file" % (path, what))
    if b"-----BEGIN" not in data:
        try:
            return [x509.load_der_x509_certificate(data)]
        except Exception:
            raise CryptError("%s: not a %s (PEM or DER)" % (path, what))
    out, begin, end = [], b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"
    off = 0
    while True:
        a = data.find(begin, off)
        if a < 0:
            break
        b = data.find(end, a)
        if b < 0:
            raise CryptError("%s: not a %s (a PEM block without its end)" % (path, what))
        off = b + len(end)
        try:
            out.append(x509.load_pem_x509_certificate(data[a:off]))
        except Exception:
            raise CryptError("%s: not a %s (PEM block %d does not parse)" % (path, what, len(out) + 1))
    if not out:
        raise CryptError("%s: not a %s (no PEM CERTIFICATE block)" % (path, what))
    return out


def parse_signature(data, path):
    """(alg, [certificates], value) of the bytes data of signature.img
    (path), checked as format section 12 says, but not yet verified."""
    if len(data) < 12 or data[:8] != SIGN_MAGIC:
        raise CryptError("%s: malformed (not a signature.img: bad magic)" % path)
    if len(data) > SIGNATURE_MAX:
        raise CryptError("%s: too big (%d bytes)" % (path, len(data)))
    size = struct.unpack("<I", data[8:12])[0]
    if size != len(data) - 12:
        raise CryptError("%s: malformed (an entry of %d bytes in %d)" % (path, size, len(data)))
    sig = _parse_message(_pb("checkpoint_signature", path), data[12:], path, "the signature")
    if not 1 <= len(sig.chain) <= MAX_CHAIN:
        raise CryptError("%s: malformed (%d certificates: 1 to %d)" % (path, len(sig.chain), MAX_CHAIN))
    certs = []
    for i, der in enumerate(sig.chain):
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except Exception:
            raise CryptError("%s: malformed (certificate %d does not parse)" % (path, i))
    alg = _sig_alg(certs[0], path, "the signer's certificate")
    if sig.alg != alg:
        raise CryptError("%s: the algorithm '%s' is not %s, of the signer's key" % (path, sig.alg[:64], alg))
    return alg, certs, sig.value


def _public_key(cert, path, what):
    try:
        return cert.public_key()
    except Exception as e:
        raise CryptError("%s: %s: unsupported key (%s)" % (path, what, describe(e)))


def _sig_alg(cert, path, what):
    """The signature algorithm of a signer of the certificate cert."""
    pub = _public_key(cert, path, what)
    if isinstance(pub, rsa.RSAPublicKey) and pub.key_size >= RSA_MIN_BITS:
        return SIG_RSA
    if isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name in ("secp256r1", "secp384r1"):
        return SIG_P256 if pub.curve.name == "secp256r1" else SIG_P384
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return SIG_ED25519
    bits = " of %d bits" % pub.key_size if isinstance(pub, rsa.RSAPublicKey) else (
        " on %s" % pub.curve.name if isinstance(pub, ec.EllipticCurvePublicKey) else "")
    raise CryptError("%s: %s has an unsupported key type for a signature (%s%s)" %
                     (path, what, _key_type(pub), bits))


def _verify_value(alg, pub, value, data):
    """Whether value is the signature alg of data under pub."""
    try:
        if alg == SIG_RSA:
            pub.verify(value, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        elif alg in (SIG_P256, SIG_P384):
            pub.verify(value, data, ec.ECDSA(hashes.SHA256() if alg == SIG_P256 else hashes.SHA384()))
        else:
            pub.verify(value, data)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


_trust = {}  # the CA and the CRL of options, read once


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _trust_anchors():
    """(the certificates of options.cacert, the CRL of options.cacrl or
    None), checked: CAs within their validity period, a CRL signed by one
    of them and current."""
    if "cas" in _trust:
        return _trust["cas"], _trust["crl"]
    path = options.cacert
    cas = load_certificates(path, "CA certificate")
    for c in cas:
        _check_ca(c, path, "the CA certificate %s" % _name(c.subject))
        _check_validity(c, path, "the CA certificate %s" % _name(c.subject))
    crl = None
    if options.cacrl:
        crl = _load_crl(options.cacrl, cas)
    _trust["cas"], _trust["crl"] = cas, crl
    return cas, crl


def _load_crl(path, cas):
    try:
        data = read_small(path, 64 << 20, "too big")
    except Absent:
        raise CryptError("%s: can't read the CRL: no such file" % path)
    try:
        if b"-----BEGIN" in data:
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
    except Exception:
        raise CryptError("%s: not a CRL (PEM or DER)" % path)
    issuer = None
    for c in cas:
        if c.subject == crl.issuer:
            try:
                ok = crl.is_signature_valid(c.public_key())
            except Exception:
                ok = False
            if ok:
                issuer = c
                break
    if issuer is None:
        raise CryptError("%s: the CRL is not signed by the CA of %s" % (path, options.cacert))
    ku = _extension(issuer, x509.KeyUsage)
    if ku is not None and not ku.crl_sign:
        raise CryptError("%s: the CRL's CA %s may not sign CRLs (key usage)" % (path, _name(issuer.subject)))
    now = _utcnow()
    if crl.last_update > now:
        raise CryptError("%s: the CRL is not valid yet (from %s)" % (path, crl.last_update))
    if crl.next_update is not None and crl.next_update < now:
        raise CryptError("%s: the CRL has expired (its next update was due %s)" % (path, crl.next_update))
    _trust["crl_issuer"] = issuer
    return crl


def _name(n):
    """An X.509 name, RFC 4514, printable (it comes from a file anyone
    could have written)."""
    try:
        s = n.rfc4514_string()
    except Exception:
        s = "?"
    return "".join(c if c.isprintable() else "\\x%02x" % ord(c) for c in s)[:300] or '""'


def _extension(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


# the extensions that _verify_chain() understands, or that do not bear
# on a signature (a certificate with another critical extension is refused)
_KNOWN_EXTENSIONS = {
    x509.ExtensionOID.BASIC_CONSTRAINTS, x509.ExtensionOID.KEY_USAGE, x509.ExtensionOID.EXTENDED_KEY_USAGE,
    x509.ExtensionOID.SUBJECT_KEY_IDENTIFIER, x509.ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    x509.ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
}


def _check_extensions(cert, path, what):
    try:
        exts = list(cert.extensions)
    except Exception as e:
        raise CryptError("%s: %s: malformed extensions (%s)" % (path, what, describe(e)))
    for e in exts:
        if e.critical and e.oid not in _KNOWN_EXTENSIONS:
            raise CryptError("%s: %s has a critical extension crit does not know (%s)" %
                             (path, what, e.oid.dotted_string))


def _check_ca(cert, path, what, below=0):
    """cert may issue certificates, with below CA certificates under it."""
    _check_extensions(cert, path, what)
    bc = _extension(cert, x509.BasicConstraints)
    if bc is None or not bc.ca:
        raise CryptError("%s: %s is not a CA (basic constraints)" % (path, what))
    if bc.path_length is not None and below > bc.path_length:
        raise CryptError("%s: %s allows %d CA certificates under it, not %d (path length)" %
                         (path, what, bc.path_length, below))
    ku = _extension(cert, x509.KeyUsage)
    if ku is not None and not ku.key_cert_sign:
        raise CryptError("%s: %s may not sign certificates (key usage)" % (path, what))
    pub = _public_key(cert, path, what)
    if isinstance(pub, rsa.RSAPublicKey) and pub.key_size < RSA_MIN_BITS:
        raise CryptError("%s: %s has an RSA key of %d bits (at least %d)" % (path, what, pub.key_size, RSA_MIN_BITS))


def _check_validity(cert, path, what):
    now = _utcnow()
    if cert.not_valid_before > now:
        raise CryptError("%s: %s is not valid yet (from %s)" % (path, what, cert.not_valid_before))
    if cert.not_valid_after < now:
        raise CryptError("%s: %s has expired (%s)" % (path, what, cert.not_valid_after))


def _issued_by(cert, issuer):
    """Whether issuer's key signed cert (by hand: cryptography 38 has no
    path validation)."""
    if cert.issuer != issuer.subject:
        return False
    try:
        pub = issuer.public_key()
        oid = cert.signature_algorithm_oid
        h = cert.signature_hash_algorithm
        if oid == x509.SignatureAlgorithmOID.RSASSA_PSS:
            params = getattr(cert, "signature_algorithm_parameters", None)
            if not isinstance(pub, rsa.RSAPublicKey) or not isinstance(params, padding.PSS):
                return False  # this cryptography can't tell the PSS parameters
            pub.verify(cert.signature, cert.tbs_certificate_bytes, params, h)
        elif isinstance(pub, rsa.RSAPublicKey):
            if not isinstance(h, (hashes.SHA256, hashes.SHA384, hashes.SHA512)):
                return False  # no SHA-1, no MD5
            pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), h)
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            if not isinstance(h, (hashes.SHA256, hashes.SHA384, hashes.SHA512)):
                return False
            pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(h))
        elif isinstance(pub, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            pub.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except Exception:
        return False
    return True


def _verify_chain(certs, path, signer=True):
    """The CA certificate of options.cacert that the certificates certs
    (the signer's, or with signer False a recipient's, then intermediate
    CAs) chain to, each one signed by the next and the last by the CA,
    every one within its validity period and none revoked by the CRL."""
    cas, crl = _trust_anchors()
    while len(certs) > 1 and certs[-1] in cas:
        certs = certs[:-1]  # the CA itself at the end of the chain
    whats = ["the %s certificate %s" % ("signer's" if signer else "recipient's", _name(certs[0].subject))] + \
        ["intermediate certificate %d (%s)" % (i, _name(c.subject)) for i, c in enumerate(certs[1:], 1)]
    _check_extensions(certs[0], path, whats[0])
    ku = _extension(certs[0], x509.KeyUsage)
    if ku is not None and signer and not ku.digital_signature:
        raise CryptError("%s: %s may not sign (key usage)" % (path, whats[0]))
    for i, c in enumerate(certs):
        _check_validity(c, path, whats[i])
    for i in range(len(certs) - 1):
        _check_ca(certs[i + 1], path, whats[i + 1], i)
        if not _issued_by(certs[i], certs[i + 1]):
            raise CryptError("%s: %s is not issued by %s" % (path, whats[i], whats[i + 1]))
    anchor = next((ca for ca in cas if _issued_by(certs[-1], ca)), None)
    if anchor is None:
        raise CryptError("%s: %s is not issued by the CA of %s" % (path, whats[-1], options.cacert))
    _check_ca(anchor, path, "the CA certificate %s" % _name(anchor.subject), len(certs) - 1)
    if crl is not None:
        if _trust["crl_issuer"] is not anchor:
            raise CryptError("%s: %s has no CRL (%s is of %s)" % (path, _name(anchor.subject), options.cacrl,
                                                                   _name(crl.issuer)))
        for i, c in enumerate(certs):
            if c == anchor:
                continue  # the CA itself, in the chain
            if crl.get_revoked_certificate_by_serial_number(c.serial_number) is not None:
                raise CryptError("%s: %s is revoked (serial %#x in %s)" % (path, whats[i], c.serial_number,
                                                                          options.cacrl))
    return anchor


def check_signature(dirpath, digest):
    """(the subject of the signer of the checkpoint dirpath of digest
    (format section 12), a line that says who signed it and whether that
    is verified) once its signature.img verifies, or (None, None) when it
    has none (refused with options.cacert).  With options.cacert, the
    signer's certificate must chain to it."""
    path = os.path.join(dirpath, SIGNATURE)
    try:
        data = read_small(path, SIGNATURE_MAX, "too big")
    except Absent:
        if options.cacert:
            raise CryptError("%s: not signed (no %s), and --tls-cacert asks for signed checkpoints" %
                             (dirpath, SIGNATURE))
        return None, None
    alg, certs, value = parse_signature(data, path)
    pub = _public_key(certs[0], path, "the signer's certificate")
    if not _verify_value(alg, pub, value, b"criu-encrypt v2 signature\0" + digest):
        raise CryptError("%s: the signature does not verify (tampered, or not of this checkpoint)" % path)
    who = _name(certs[0].subject)
    if options.cacert:
        _verify_chain(certs, path)
        line = "%s: signed by %s, verified against %s" % (dirpath, who, options.cacert)
    else:
        line = "%s: signed by %s, not verified (no --tls-cacert)" % (dirpath, who)
    return who, line
