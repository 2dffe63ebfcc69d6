#!/usr/bin/python3
# CRIT on the checkpoint of a zdtm test: every image of the encrypted
# checkpoint ENC authenticates and every protobuf image among them
# decodes ('crit decode'), and 'crit x ENC ps|fds|mems|rss' with the key
# prints what 'crit x PLAIN ...' prints for the plain checkpoint that
# test/crit/criu-twin took of the same idle process right before.
#
# usage: check-zdtm.py ENC PLAIN KEY [--decode-only]
# Prints one line of what was checked; exit status 1 and the reasons on
# stderr if anything differs or fails.  Runs crit's own code (its
# decode() and explorers), in one process for speed.
import contextlib
import io
import os
import struct
import sys

from crit import __main__ as crit
from pycriu import crypt, images


def crit_out(func, opts):
    crit.files_cache.clear()  # crit caches file names across calls
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        func(opts)
    return out.getvalue()


def explore(what, d, key):
    """What 'crit x d what' gives: its output, or its error with the
    directory's name left out (upstream crit fails on some checkpoints,
    zombies for one; it must then fail alike on both)."""
    try:
        return "out", crit_out(crit.explore, {"dir": d, "what": what, "tls_key": key})
    except BaseException as e:
        return "error", str(e).replace(d, "DIR")


def main():
    enc, plain, key = sys.argv[1:4]
    crypt.configure(key_any_mode=True)  # CRIU's test key, which the tarball ships readable by all
    decode_only = "--decode-only" in sys.argv[4:]
    known = set(images.magic.by_name.values())
    bad = []
    decoded = raw = 0
    for name in sorted(os.listdir(enc)):
        path = os.path.join(enc, name)
        if not name.endswith(".img") or name in (crypt.CIPHER_IMG, crypt.SIGNATURE):
            continue
        try:
            data = crypt.open_image(path, key).read()  # authenticates it all
            magic = struct.unpack("<I", data[:4])[0] if len(data) >= 4 else 0
            # pages are raw whatever their first bytes; other raw images
            # (netlink dumps, archives) have no image magic
            if not (name.startswith("pages-") or crypt.is_tags_image(name)) and magic in known:
                crit_out(crit.decode, {"in": path, "out": os.devnull, "pretty": True,
                                       "nopl": False, "tls_key": key})
                decoded += 1
            else:
                raw += 1  # pages, archives: authenticated, nothing to decode
        except BaseException as e:
            bad.append("crit decode %s: %s" % (name, e))
    xs = ()
    if not decode_only:
        xs = ("ps", "fds", "mems", "rss")
    alike = []
    for what in xs:
        a = explore(what, enc, key)
        b = explore(what, plain, None)
        if a != b or not a[1]:
            bad.append("crit x %s: %s, but on the plain checkpoint: %s" % (what, a, b))
        elif a[0] == "error":
            alike.append("x %s fails alike on both: %s" % (what, a[1]))
    if bad:
        sys.stderr.write("".join("    # %s\n" % b for b in bad))
        sys.exit(1)
    print("%d images decoded, %d raw images authenticated%s%s" %
          (decoded, raw, "" if decode_only else ", crit x ps/fds/mems/rss as the plain checkpoint's",
           "".join(" (%s)" % a for a in alike)))


if __name__ == "__main__":
    main()
