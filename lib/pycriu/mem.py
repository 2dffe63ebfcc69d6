# SPDX-License-Identifier: GPL-2.0
# The memory of a checkpointed task, as an analyst reads it: the bytes at an
# address, and a search for a byte string.  Works on plain and encrypted
# checkpoints alike (the directory is opened with crypt.open_dir(), which
# checks its chain of parents; pages are read through its page_image(),
# which authenticates each page as it is read) and follows a pre-dump
# chain through the "parent" links.  Pages are read when they are needed,
# up to crypt.BATCH (1 MiB) at a time: the memory this takes does not grow
# with the checkpoint's.
import bisect
import os

from . import crypt, images

PAGE = 4096
BATCH = crypt.BATCH
PE_PARENT, PE_PRESENT = 1 << 0, 1 << 2
VMA_AREA_REGULAR, VMA_ANON_SHARED = 1 << 0, 1 << 8
VMA_AREA_MEMFD = 1 << 14


class MemError(crypt.CryptError):
    """One line: what can not be read, and why."""


def load(d, name):
    """The entries of the image name of the checkpoint d (crypt.open_dir);
    crypt.Absent if it is not there."""
    path = os.path.join(d.dir, name)
    with d.open_image(name) as f, crypt.parsing(path):
        try:
            return images.load(f)["entries"]
        except crypt.CryptError:
            raise
        except images.MagicException as e:
            raise MemError("%s: not a CRIU image (magic %#x)" % (path, e.magic & 0xffffffff))
        except Exception as e:
            raise MemError("%s: malformed image (%s)" % (path, crypt.describe(e)))


class _Pages:
    """The pages one pagemap image puts in a checkpoint directory: runs of
    page numbers (addresses, or shmem offsets, over 4096) and where their
    bytes are (the pages image, or the parent checkpoint)."""

    def __init__(self, d, name, key):
        self.d, self.key = d, key
        self.data = None
        self.parent = None
        self.firsts, self.runs = [], []  # runs: (first, count, index in the pages image or None: in the parent)
        self.path = os.path.join(d.dir, name)
        try:
            entries = load(d, name)
        except crypt.Absent:
            return
        if not entries or "pages_id" not in entries[0]:
            raise MemError("%s: no pagemap head" % self.path)
        self.pages_name = "pages-%d.img" % entries[0]["pages_id"]
        idx, in_parent = 0, False
        runs = []
        for pe in entries[1:]:
            vaddr, nr = pe.get("vaddr", 0), pe.get("nr_pages", 0)
            if vaddr % PAGE:
                raise MemError("%s: an entry at %#x, not at a page" % (self.path, vaddr))
            flags = pe.get("flags", PE_PARENT if pe.get("in_parent") else PE_PRESENT)
            if not nr:
                continue
            if flags & PE_PARENT:
                runs.append((vaddr // PAGE, nr, None))
                in_parent = True
            elif flags & PE_PRESENT:
                runs.append((vaddr // PAGE, nr, idx))
                idx += nr
        runs.sort(key=lambda r: r[0])
        for a, b in zip(runs, runs[1:]):
            if a[0] + a[1] > b[0]:
                raise MemError("%s: entries overlap at page %#x" % (self.path, b[0] * PAGE))
        self.runs, self.firsts, self.nr_pages = runs, [r[0] for r in runs], idx
        if in_parent:
            if d.parent is None:
                raise MemError("%s: pages in a parent checkpoint, but %s is missing" %
                               (self.path, os.path.join(d.dir, crypt.PARENT_LINK)))
            self.parent = _Pages(d.parent, name, key)

    def _run(self, n):
        i = bisect.bisect_right(self.firsts, n) - 1
        if i >= 0 and n < self.runs[i][0] + self.runs[i][1]:
            return self.runs[i]
        return None

    def page(self, n):
        """The 4 KiB at page number n, or None if the checkpoint has none."""
        r = self._run(n)
        if r is None:
            return None
        if r[2] is None:
            return self.parent.page(n)
        return self._image().page(r[2] + n - r[0])

    def read(self, n, count, buf):
        """Pages n .. n + count - 1 into the memoryview buf (count pages),
        as many at once as the pages image has in a row; a page the
        checkpoint does not hold reads as zeros."""
        while count > 0:
            r = self._run(n)
            if r is None:
                i = bisect.bisect_right(self.firsts, n)
                k = min(count, (self.firsts[i] if i < len(self.firsts) else n + count) - n)
                buf[:k * PAGE] = bytes(k * PAGE)
            else:
                k = min(count, r[0] + r[1] - n)
                if r[2] is None:
                    self.parent.read(n, k, buf[:k * PAGE])
                else:
                    self._image().read_into(r[2] + n - r[0], k, buf[:k * PAGE])
            n, count, buf = n + k, count - k, buf[k * PAGE:]

    def _image(self):
        if self.data is None:
            data = self.d.page_image(self.pages_name)
            if data.nr < self.nr_pages:
                data.close()
                raise MemError("%s: %d pages, but %s has %d" %
                               (self.path, self.nr_pages, os.path.join(self.d.dir, self.pages_name), data.nr))
            self.data = data
        return self.data

    def present(self, first, last):
        """The runs [a, b) of page numbers in [first, last) that the
        checkpoint holds (here or in a parent), in order."""
        out = []
        i = max(0, bisect.bisect_right(self.firsts, first) - 1)
        while i < len(self.runs) and self.runs[i][0] < last:
            f, c, idx = self.runs[i]
            a, b = max(first, f), min(last, f + c)
            if a < b:
                if idx is None:
                    out += self.parent.present(a, b)
                else:
                    out.append((a, b))
            i += 1
        merged = []
        for a, b in out:
            if merged and merged[-1][1] == a:
                merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        return merged


class TaskMemory:
    """The mappings of task pid of the checkpoint in dirpath and the pages
    the checkpoint holds for them."""

    def __init__(self, dirpath, pid, key=None):
        self.d = crypt.open_dir(dirpath, key)
        self.dir, self.pid, self.key = dirpath, pid, key
        self.shmem = {}
        self.memfds = None
        try:
            mm = load(self.d, "mm-%d.img" % pid)
        except crypt.Absent:
            raise MemError("%s: no such image: task %d is not in the checkpoint" %
                           (os.path.join(dirpath, "mm-%d.img" % pid), pid))
        if not mm:
            raise MemError("%s: empty" % os.path.join(dirpath, "mm-%d.img" % pid))
        self.vmas = []
        for v in mm[0].get("vmas", []):
            if not (v.get("start", 0) <= v.get("end", 0) and v["start"] % PAGE == 0 and v["end"] % PAGE == 0):
                raise MemError("%s: a mapping %#x-%#x" %
                               (os.path.join(dirpath, "mm-%d.img" % pid), v.get("start", 0), v.get("end", 0)))
            self.vmas.append(v)
        self.private = _Pages(self.d, "pagemap-%d.img" % pid, key)

    def _load(self, name):
        try:
            return load(self.d, name)
        except crypt.Absent:
            raise MemError("%s: no such image" % os.path.join(self.dir, name))

    def _memfd_shmid(self, file_id):
        """A memfd mapping (also how shared anonymous memory looks on new
        kernels) names a file; the file its inode; the inode its shmem."""
        if self.memfds is None:
            inodes = {m.get("inode_id"): m.get("shmid") for m in self._load("memfd.img")}
            self.memfds = {f.get("id"): inodes.get(f["memfd"].get("inode_id"))
                           for f in self._load("files.img") if f.get("type") == "MEMFD" and "memfd" in f}
        sid = self.memfds.get(file_id)
        if sid is None:
            raise MemError("%s: no memfd file %d of task %d" %
                           (os.path.join(self.dir, "files.img"), file_id, self.pid))
        return sid

    def _source(self, vma):
        """(pages, offset of the vma's first byte in their numbering)."""
        sid = None
        if vma["status"] & VMA_ANON_SHARED:
            sid = vma["shmid"]
        elif vma["status"] & VMA_AREA_MEMFD:
            sid = self._memfd_shmid(vma["shmid"])
        if sid is not None:
            if sid not in self.shmem:
                self.shmem[sid] = _Pages(self.d, "pagemap-shmem-%d.img" % sid, self.key)
            return self.shmem[sid], vma.get("pgoff", 0)
        return self.private, vma["start"]

    def vma_at(self, addr):
        for vma in self.vmas:
            if vma["start"] <= addr < vma["end"]:
                return vma
        return None

    def page_at(self, vma, addr):
        """The page of vma at addr (page-aligned), or None if the
        checkpoint does not hold it."""
        pages, base = self._source(vma)
        return pages.page((addr - vma["start"] + base) // PAGE)

    def segments(self, vma, start, end):
        """Cover [start, end) of vma with (from, to, held): held where the
        checkpoint holds the pages (of its pagemaps, or of a parent's)."""
        pages, base = self._source(vma)
        off = base - vma["start"]  # an address + off: its place in the pages' numbering
        pos = start
        for a, b in pages.present((start + off) // PAGE, (end + off + PAGE - 1) // PAGE):
            a, b = max(pos, a * PAGE - off), min(end, b * PAGE - off)
            if a > pos:
                yield pos, a, False
            if b > a:
                yield a, b, True
                pos = b
        if pos < end:
            yield pos, end, False

    def held(self, vma, start, end):
        """Yield the bytes of [start, end) of vma, which the checkpoint
        holds (segments()), BATCH pages at most at a time."""
        pages, base = self._source(vma)
        off = base - vma["start"]
        last = (end + off + PAGE - 1) // PAGE
        buf = memoryview(bytearray(min(BATCH, max(0, last - (start + off) // PAGE)) * PAGE))
        while start < end:
            n, o = divmod(start + off, PAGE)
            k = min(BATCH, last - n)
            pages.read(n, k, buf[:k * PAGE])
            m = min(end - start, k * PAGE - o)
            yield bytes(buf[o:o + m])  # its own bytes: a caller may keep them
            start += m

    def pieces(self, addr, size, missing):
        """Yield the memory at addr..addr+size: bytes (BATCH pages at most
        at a time), or, for memory the checkpoint does not hold, the number of
        zero bytes it reads as; missing[0] counts the pages of those."""
        end = addr + size
        while addr < end:
            vma = self.vma_at(addr)
            if vma is None:
                raise MemError("task %d has no mapping at %#x" % (self.pid, addr))
            stop = min(end, vma["end"])
            for a, b, held in self.segments(vma, addr, stop):
                if held:
                    yield from self.held(vma, a, b)
                else:
                    missing[0] += (b + PAGE - 1) // PAGE - a // PAGE
                    yield b - a
            addr = stop

    def read(self, addr, size):
        """(bytes, number of pages not in the checkpoint, read as zeros)."""
        missing = [0]
        data = b"".join(bytes(p) if isinstance(p, int) else p for p in self.pieces(addr, size, missing))
        return data, missing[0]

    def search(self, pattern):
        """Yield (address, vma) of every occurrence of pattern in the pages
        the checkpoint holds, runs of adjacent pages searched as one
        (BATCH pages at a time, after the end of the ones before)."""
        keep = len(pattern) - 1
        # buf: the last keep bytes of the run so far, then BATCH pages
        buf = bytearray(keep + BATCH * PAGE)
        view = memoryview(buf)
        for vma in self.vmas:
            pages, base = self._source(vma)
            first = base // PAGE
            last = (vma["end"] - vma["start"] + base) // PAGE
            for a, b in pages.present(first, last):
                tail = 0  # bytes of the run before, at the end of buf[:keep]
                for n in range(a, b, BATCH):
                    k = min(BATCH, b - n)
                    end = keep + k * PAGE
                    pages.read(n, k, view[keep:end])
                    start = vma["start"] + n * PAGE - base - keep  # the address of buf[0]
                    i = buf.find(pattern, keep - tail, end)
                    while i >= 0:
                        yield start + i, vma
                        i = buf.find(pattern, i + 1, end)
                    tail = min(keep, tail + k * PAGE)
                    buf[keep - tail:keep] = buf[end - tail:end]


def parse_range(text):
    """'START-END' as crit x mems prints it, or one address; hex, 0x optional."""
    try:
        if "-" in text:
            a, b = text.split("-", 1)
            return int(a, 16), int(b, 16)
        return int(text, 16), None
    except ValueError:
        raise MemError("'%s' is not an address or a range START-END (hex)" % text)


def hexdump(data, addr, out):
    """xxd-like lines: address, 16 bytes in hex, the printable ones."""
    for i in range(0, len(data), 16):
        row = data[i:i + 16]
        hx = " ".join(row[j:j + 2].hex() for j in range(0, len(row), 2))
        txt = "".join(chr(c) if 32 <= c < 127 else "." for c in row)
        out.write("%016x: %-39s  %s\n" % (addr + i, hx, txt))
