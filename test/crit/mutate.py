#!/usr/bin/python3
# A mutation fuzzer of CRIT's decoders (and criu-coredump's): it changes one
# image of a real encrypted checkpoint at a time (bits flipped, bytes set,
# truncated, extended, spliced with bytes of another image, swapped for
# another image) and runs crit show/x/grep/mem/decrypt and criu-coredump
# on the result, each under a timeout.  Every run must end with success or
# with ONE line "crit: ..." (or "criu-coredump: ..."): no traceback, no
# hang, no crash (signal), and no more memory than a bound.  A changed
# sealed image, page or cipher.img that crit decrypt (or crit show of it)
# accepts is an authentication bypass, and reported as one.
#
# Three modes of mutation, each drawn at random:
#   raw     bytes of a file of the encrypted checkpoint
#   reseal  the plaintext of a sealed image, sealed again with the key:
#           authenticated garbage, as anyone with the recipient's
#           certificate could make, which reaches the protobuf decoders
#   plain   bytes of an image of a plain copy ('crit decrypt') of it
#
# usage: mutate.py [-n N] [--smoke] [--seed S] [--regress DIR] ENC KEY SECRET
#        mutate.py --replay DIR ENC KEY SECRET
# ENC: an encrypted checkpoint (criu dump --encrypt) of a process holding
# SECRET in its memory; KEY: its private key.  Inputs that gave an anomaly
# are kept in --regress DIR (one directory each: case.json and the
# mutated bytes) and --replay runs them again on ENC.  Prints counts; exit
# status 1 if there was any anomaly.
#
# The commands run in a process forked from this one after crit is imported
# (main() of crit and of criu-coredump, with their argv), so that a run
# costs milliseconds, not an interpreter start; every --exec-every'th run
# execs the real build/bin/crit or criu-coredump instead.
import argparse
import collections
import gc
import json
import hashlib
import os
import random
import resource
import runpy
import shutil
import signal
import sys
import tempfile
import time
import traceback

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "build", "python"))

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: E402

from crit import __main__ as crit_main  # noqa: E402
from pycriu import crypt  # noqa: E402

CRIT_BIN = os.path.join(TOP, "build", "bin", "crit")
COREDUMP_BIN = os.path.join(TOP, "build", "bin", "criu-coredump")
COREDUMP_PY = os.path.join(TOP, "build", "python", "criu-coredump")
RSS_MAX = 256 << 10  # KiB: what a run may take, at most
AS_MAX = 2 << 30  # bytes: the address space a run is given


#
# Running a command
#

class Result:
    def __init__(self, code, sig, err, rss, elapsed, hung):
        self.code, self.sig, self.err, self.rss, self.elapsed, self.hung = code, sig, err, rss, elapsed, hung


def _child(tool, argv, execute, errfd):
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(errfd, 2)
        resource.setrlimit(resource.RLIMIT_AS, (AS_MAX, AS_MAX))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if execute:
            binary = CRIT_BIN if tool == "crit" else COREDUMP_BIN
            os.execv(binary, [binary] + argv)
        sys.argv = [tool] + argv
        code = 0
        try:
            if tool == "crit":
                crit_main.main()
            else:
                runpy.run_path(COREDUMP_PY, run_name="__main__")
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                sys.stderr.write("%s\n" % e.code)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        traceback.print_exc()
    os._exit(code)


def run(tool, argv, timeout, execute=False):
    """Run crit or criu-coredump with argv; a Result."""
    err = tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    gc.freeze()  # the child does not touch (copy) the objects of this one
    pid = os.fork()
    if pid == 0:
        gc.disable()
        _child(tool, argv, execute, err.fileno())
    hung = []

    def expire(*_):
        hung.append(True)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    # a run that does not end in time is killed (with what it started)
    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        p, status, ru = os.wait4(pid, 0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    elapsed = time.monotonic() - start
    err.seek(0)
    text = err.read().decode(errors="replace")
    err.close()
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return Result(code, sig, text, ru.ru_maxrss, elapsed, bool(hung))


def classify(res, tool, cmd):
    """(verdict, detail): verdict is ok, refused, notfound, or an anomaly:
    hang, crash, traceback, bad-error (not one line naming the tool),
    memory."""
    prefix = tool + ": "
    lines = res.err.splitlines()
    if res.hung:
        return "hang", "no end after %.0f s" % res.elapsed
    if res.sig is not None:
        return "crash", "signal %d" % res.sig
    if "Traceback" in res.err:
        return "traceback", res.err.strip().splitlines()[-1][:300]
    if res.rss > RSS_MAX:
        return "memory", "%d KiB" % res.rss
    if res.code == 0:
        if any(not ln.startswith(prefix) for ln in lines):
            return "bad-error", res.err[:300]
        return "ok", ""
    if cmd == "grep" and res.code == 1 and not lines:
        return "notfound", ""
    if len(lines) != 1 or not lines[0].startswith(prefix):
        return "bad-error", res.err[:300]
    return "refused", lines[0]


#
# Mutations
#

def _interesting(rng, size):
    return rng.choice([0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
                       size, size + 1, max(0, size - 1), 4096, 65536, 65552, rng.getrandbits(32)])


def mutate_bytes(rng, data, others):
    """A changed copy of data, and what was done (others: bytes of other
    files, for splices)."""
    n = len(data)
    b = bytearray(data)
    kind = rng.choice(["flip", "flip", "set", "int", "truncate", "extend", "splice", "insert", "delete",
                       "dup", "header", "zero"])
    head = lambda: rng.randrange(min(n, 64)) if n and rng.random() < 0.5 else (rng.randrange(n) if n else 0)
    if kind == "flip" and n:
        offs = [head() for _ in range(rng.randint(1, 4))]
        for o in offs:
            b[o] ^= 1 << rng.randrange(8)
        what = "flip bits at %s" % offs
    elif kind == "set" and n:
        o, k = head(), rng.randint(1, 16)
        b[o:o + k] = bytes(rng.getrandbits(8) for _ in range(k))
        what = "set %d bytes at %d" % (k, o)
    elif kind == "int" and n >= 4:
        o = head() if rng.random() < 0.7 else rng.randrange(n - 3)
        o = min(o, n - 4)
        v = _interesting(rng, n)
        b[o:o + 4] = (v & 0xffffffff).to_bytes(4, rng.choice(["little", "big"]))
        what = "int %#x at %d" % (v, o)
    elif kind == "truncate" and n:
        k = rng.choice([0, 1, 8, 12, 23, 24, 39, 40, n - 1, n - 16, n - 17, rng.randrange(n)])
        k = max(0, min(k, n - 1))
        del b[k:]
        what = "truncate to %d" % k
    elif kind == "extend":
        k = rng.choice([1, 15, 16, 17, 4096, 65552, rng.randint(1, 70000)])
        b += bytes(k) if rng.random() < 0.5 else os.urandom(k)
        what = "extend by %d" % k
    elif kind in ("splice", "insert") and others:
        src = rng.choice(others)
        if not src:
            src = b"\0"
        s = rng.randrange(len(src))
        k = rng.randint(1, min(len(src) - s, 70000))
        o = rng.randrange(n + 1)
        if kind == "splice":
            b[o:o + k] = src[s:s + k]
        else:
            b[o:o] = src[s:s + k]
        what = "%s %d bytes of another file at %d" % (kind, k, o)
    elif kind == "delete" and n:
        o = rng.randrange(n)
        k = rng.randint(1, max(1, min(n - o, 70000)))
        del b[o:o + k]
        what = "delete %d bytes at %d" % (k, o)
    elif kind == "dup" and n:
        o = rng.randrange(n)
        k = rng.randint(1, min(n - o, 70000))
        b[o:o] = b[o:o + k]
        what = "duplicate %d bytes at %d" % (k, o)
    elif kind == "zero" and n:
        o = rng.randrange(n)
        k = rng.randint(1, min(n - o, 70000))
        b[o:o + k] = bytes(k)
        what = "zero %d bytes at %d" % (k, o)
    elif kind == "header" and n >= 12:
        # the fields of a CRIU image's first entry: magics and size
        o = rng.choice([0, 4, 8])
        b[o:o + 4] = (_interesting(rng, n) & 0xffffffff).to_bytes(4, "little")
        what = "header word at %d" % o
    elif others:
        b = bytearray(rng.choice(others))
        what = "replaced by another file"
    else:
        b += b"\0"
        what = "extend by 1"
    if bytes(b) == data:
        b += b"\1"
        what += ", and extend by 1"
    return bytes(b), what


def seal(cp, name, plain):
    """plain sealed as the image name of the checkpoint cp."""
    nonce = os.urandom(crypt.NONCE)
    aead = ChaCha20Poly1305(cp.derive("criu-encrypt v1 stream", nonce + name.encode()))
    chunks = [plain[i:i + crypt.CHUNK] for i in range(0, len(plain), crypt.CHUNK)] or [b""]
    out = [crypt.MAGIC, nonce]
    for i, c in enumerate(chunks):
        out.append(aead.encrypt(i.to_bytes(11, "big") + (b"\x01" if i == len(chunks) - 1 else b"\x00"), c, None))
    return b"".join(out)


#
# The fuzzer
#

class Fuzzer:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.key = os.path.abspath(args.key)
        self.secret = args.secret
        self.work = tempfile.mkdtemp(prefix="crit-mutate.")
        self.enc_orig = os.path.join(self.work, "enc.orig")
        shutil.copytree(args.enc, self.enc_orig, symlinks=True)
        for n in os.listdir(self.enc_orig):
            if n.endswith(".log") or n == crypt.PARENT_LINK:
                os.unlink(os.path.join(self.enc_orig, n))
        self.enc = os.path.join(self.work, "enc")
        shutil.copytree(self.enc_orig, self.enc)
        self.plain_orig = os.path.join(self.work, "plain.orig")
        crypt.decrypt_dir(self.enc_orig, self.plain_orig, self.key)
        crypt._dirs.clear()
        self.plain = os.path.join(self.work, "plain")
        shutil.copytree(self.plain_orig, self.plain)
        self.cp = crypt.Checkpoint(self.enc_orig, self.key)
        crypt.private_key(self.key)  # read once here, for every forked run
        self.files = {"enc": sorted(os.listdir(self.enc_orig)), "plain": sorted(os.listdir(self.plain_orig))}
        self.sealed = [n for n in self.cp.manifest if not crypt.is_page_image(n)] + [crypt.MANIFEST]
        self.content = {}
        for mode, d in (("enc", self.enc_orig), ("plain", self.plain_orig)):
            for n in self.files[mode]:
                with open(os.path.join(d, n), "rb") as f:
                    self.content[(mode, n)] = f.read()
        self.plaintext = {n: self.cp.open_image(n).read() for n in self.sealed}
        self.addr = self._secret_place()
        self.counts = collections.Counter()
        self.anomalies = []
        self.nrun = 0

    def _secret_place(self):
        from pycriu import mem
        crypt._dirs.clear()
        for pid in (1, 2):
            try:
                for addr, _ in mem.TaskMemory(self.plain_orig, pid).search(self.secret.encode()):
                    crypt._dirs.clear()
                    return pid, addr
            except Exception:
                pass
        crypt._dirs.clear()
        return 1, 0

    def commands(self, mode, name, full):
        """The commands to run on the checkpoint with name changed."""
        d = self.enc if mode != "plain" else self.plain
        k = ["--tls-key", self.key] if mode != "plain" else []
        pid, addr = self.addr
        out = os.path.join(self.work, "out")
        cmds = [
            ("crit", "show", ["show", os.path.join(d, name)] + k),
            ("crit", "x", ["x", d, self.rng.choice(["ps", "fds", "mems", "rss"])] + k),
            ("crit", "grep", ["grep", d, self.secret] + k),
            ("crit", "mem", ["mem", d, str(pid), "%x-%x" % (addr, addr + 64)] + k),
            ("criu-coredump", "coredump", ["-i", d, "-o", out] + k),
        ]
        if mode != "plain":
            cmds.append(("crit", "decrypt", ["decrypt", d, out + ".dec"] + k))
        if full:
            return cmds
        # the smoke mode: the command that reads the changed file, and one
        # more (criu-coredump, which takes longer, less often)
        more = cmds[1:]
        return [cmds[0], self.rng.choice(more + [c for c in more if c[0] == "crit"])]

    def mutate(self):
        """Change one file; (mode, name, what, bytes written)."""
        rng = self.rng
        mode = rng.choice(["raw", "raw", "raw", "reseal", "plain"])
        if mode == "reseal":
            name = rng.choice(self.sealed)
            others = list(self.plaintext.values())
            plain, what = mutate_bytes(rng, self.plaintext[name], others)
            data = seal(self.cp, name, plain)
            path = os.path.join(self.enc, name)
            what = "plaintext: " + what
        else:
            key = "enc" if mode == "raw" else "plain"
            name = rng.choice(self.files[key])
            others = [v for (m, n), v in self.content.items() if m == key and n != name]
            plain, what = mutate_bytes(rng, self.content[(key, name)], others)
            data = plain
            path = os.path.join(self.enc if mode == "raw" else self.plain, name)
        with open(path, "wb") as f:
            f.write(data)
        return mode, name, what, plain

    def restore(self, mode, name):
        key = "plain" if mode == "plain" else "enc"
        d = self.plain if mode == "plain" else self.enc
        with open(os.path.join(d, name), "wb") as f:
            f.write(self.content[(key, name)])

    def apply(self, mode, name, plain):
        """Write a saved case (plain: the mutated bytes, or plaintext for reseal)."""
        if mode == "reseal":
            data = seal(self.cp, name, plain)
        else:
            data = plain
        d = self.plain if mode == "plain" else self.enc
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

    def cleanup_out(self):
        for o in ("out", "out.dec"):
            p = os.path.join(self.work, o)
            if os.path.isdir(p):
                shutil.rmtree(p)
        os.makedirs(os.path.join(self.work, "out"), exist_ok=True)

    def check(self, mode, name, what, plain, full):
        """Run the commands on the changed checkpoint; count and keep anomalies."""
        bad = False
        for tool, cmd, argv in self.commands(mode, name, full):
            self.cleanup_out()
            self.nrun += 1
            execute = self.args.exec_every and self.nrun % self.args.exec_every == 0
            res = run(tool, argv, self.args.timeout * (4 if execute else 1), execute)
            verdict, detail = classify(res, tool, cmd)
            # a changed authenticated file that is accepted: a bypass
            if mode == "raw" and verdict == "ok" and name not in crypt.STATS and (
                    cmd == "decrypt" or (cmd == "show" and name != crypt.CIPHER_IMG)):
                verdict, detail = "bypass", "accepted"
            self.counts[(mode, cmd, verdict)] += 1
            self.counts[verdict] += 1
            if verdict in ("ok", "refused", "notfound"):
                continue
            bad = True
            case = {"mode": mode, "file": name, "mutation": what, "tool": tool, "argv": argv,
                    "verdict": verdict, "detail": detail, "exec": bool(execute)}
            self.anomalies.append(case)
            print("ANOMALY %s: %s %s (%s): %s %s" % (verdict, mode, name, what, cmd, detail), flush=True)
            if self.args.regress:
                self.keep(case, plain)
        return bad

    def keep(self, case, plain):
        # one case for one changed file: a replay runs every command
        h = hashlib.sha256(("%s\0%s\0" % (case["mode"], case["file"])).encode() + plain).hexdigest()[:12]
        d = os.path.join(self.args.regress, "%s-%s" % (case["verdict"], h))
        if os.path.exists(d):
            return
        os.makedirs(d)
        with open(os.path.join(d, "data"), "wb") as f:
            f.write(plain)
        case = dict(case, argv=[a.replace(self.work, "WORK").replace(self.key, "KEY") for a in case["argv"]])
        with open(os.path.join(d, "case.json"), "w") as f:
            json.dump(case, f, indent=1, sort_keys=True)
            f.write("\n")

    def fuzz(self, n, full):
        start = time.monotonic()
        for i in range(n):
            mode, name, what, plain = self.mutate()
            try:
                self.check(mode, name, what, plain, full)
            finally:
                self.restore(mode, name)
            if self.args.verbose and i % 100 == 99:
                print("%d mutations, %.0f s" % (i + 1, time.monotonic() - start), flush=True)
        return time.monotonic() - start

    def replay(self, d):
        """Run the kept cases of d again."""
        n = 0
        for c in sorted(os.listdir(d)):
            p = os.path.join(d, c)
            if not os.path.isfile(os.path.join(p, "case.json")):
                continue
            with open(os.path.join(p, "case.json")) as f:
                case = json.load(f)
            with open(os.path.join(p, "data"), "rb") as f:
                plain = f.read()
            self.apply(case["mode"], case["file"], plain)
            try:
                self.check(case["mode"], case["file"], "replay of %s" % c, plain, True)
            finally:
                self.restore(case["mode"], case["file"])
            n += 1
        return n

    def report(self, n, elapsed):
        runs = sum(v for k, v in self.counts.items() if isinstance(k, tuple))
        print("%d mutations, %d runs in %.0f s: %s" %
              (n, runs, elapsed, ", ".join("%s %d" % (k, v) for k, v in sorted(
                  (k, v) for k, v in self.counts.items() if not isinstance(k, tuple)))))
        if self.args.verbose:
            for k, v in sorted((k, v) for k, v in self.counts.items() if isinstance(k, tuple)):
                print("  %-7s %-9s %-10s %d" % (k + (v,)))

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="mutation fuzzer of CRIT's decoders")
    ap.add_argument("enc")
    ap.add_argument("key")
    ap.add_argument("secret")
    ap.add_argument("-n", type=int, default=2000, help="mutations (default 2000)")
    ap.add_argument("--smoke", action="store_true", help="200 mutations, two commands each")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=20, help="seconds a run may take")
    ap.add_argument("--exec-every", type=int, default=25,
                    help="exec the real binary every Nth run (0: never)")
    ap.add_argument("--regress", help="keep the inputs of anomalies here")
    ap.add_argument("--replay", help="run the kept cases of this directory again")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big")
    print("seed %d" % args.seed, flush=True)
    # killed: the scratch copies are removed all the same
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    fz = Fuzzer(args)
    try:
        if args.smoke and args.exec_every == 25:
            args.exec_every = 100
        if args.replay:
            t = time.monotonic()
            n = fz.replay(args.replay)
            fz.report(n, time.monotonic() - t)
        else:
            n = 200 if args.smoke else args.n
            fz.report(n, fz.fuzz(n, not args.smoke))
    finally:
        fz.close()
    sys.exit(1 if fz.anomalies else 0)


if __name__ == "__main__":
    main()
