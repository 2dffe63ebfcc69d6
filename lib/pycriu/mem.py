# SPDX-License-Identifier: GPL-2.0
# The memory of a checkpointed task, as an analyst reads it: the bytes at an
# address, and a search for a byte string.  Works on plain and encrypted
# checkpoints alike (images are opened through crypt.open_image(), pages
# through crypt.open_page_image(), which authenticates each page as it is
# read) and follows a pre-dump chain through the "parent" links.
import bisect
import os

from . import crypt, images

PAGE = 4096
PE_PARENT, PE_PRESENT = 1 << 0, 1 << 2
VMA_AREA_REGULAR, VMA_ANON_SHARED = 1 << 0, 1 << 8
VMA_AREA_MEMFD = 1 << 14


class MemError(Exception):
    """One line: what can not be read, and why."""


class _Pages:
    """The pages one pagemap image puts in a checkpoint directory: page
    address (or shmem offset) -> where its bytes are."""

    def __init__(self, dirpath, name, key):
        self.dir, self.key = dirpath, key
        self.data = None
        self.parent = None
        self.where = {}  # page number -> index in the pages image, or None: in the parent
        self._sorted = None
        path = os.path.join(dirpath, name)
        if not os.path.exists(path):
            return
        entries = images.load(crypt.open_image(path, key))["entries"]
        self.pages_name = "pages-%d.img" % entries[0]["pages_id"]
        idx = 0
        for pe in entries[1:]:
            first = pe["vaddr"] // PAGE
            flags = pe.get("flags", PE_PARENT if pe.get("in_parent") else PE_PRESENT)
            for i in range(pe["nr_pages"]):
                if flags & PE_PARENT:
                    self.where[first + i] = None
                elif flags & PE_PRESENT:
                    self.where[first + i] = idx + i
            if flags & PE_PRESENT and not flags & PE_PARENT:
                idx += pe["nr_pages"]
        if None in self.where.values():
            pdir = os.path.join(dirpath, "parent")
            if not os.path.isdir(pdir):
                raise MemError("%s: pages in a parent checkpoint, but %s is missing" % (path, pdir))
            pdir = os.path.realpath(pdir)
            if crypt.is_encrypted(dirpath) and not crypt.is_encrypted(pdir):
                raise MemError("%s: missing: the parent of an encrypted checkpoint is a plain one" %
                               os.path.join(pdir, crypt.CIPHER_IMG))
            self.parent = _Pages(pdir, name, key)

    def page(self, n):
        """The 4 KiB at page number n, or None if the checkpoint has none."""
        if n not in self.where:
            return None
        i = self.where[n]
        if i is None:
            return self.parent.page(n)
        if self.data is None:
            self.data = crypt.open_page_image(os.path.join(self.dir, self.pages_name), self.key)
        return self.data.page(i)

    def present(self, first, last):
        """The page numbers in [first, last) that the checkpoint holds."""
        if self._sorted is None:
            self._sorted = sorted(self.where)
        s = self._sorted
        return s[bisect.bisect_left(s, first):bisect.bisect_left(s, last)]


class TaskMemory:
    """The mappings of task pid of the checkpoint in dirpath and the pages
    the checkpoint holds for them."""

    def __init__(self, dirpath, pid, key=None):
        self.dir, self.pid, self.key = dirpath, pid, key
        path = os.path.join(dirpath, "mm-%d.img" % pid)
        if not os.path.exists(path):
            raise MemError("%s: no such image: task %d is not in the checkpoint" % (path, pid))
        self.shmem = {}
        self.memfds = None
        self.vmas = self._load("mm-%d.img" % pid)[0]["vmas"]
        self.private = _Pages(dirpath, "pagemap-%d.img" % pid, key)

    def _load(self, name):
        return images.load(crypt.open_image(os.path.join(self.dir, name), self.key))["entries"]

    def _memfd_shmid(self, file_id):
        """A memfd mapping (also how shared anonymous memory looks on new
        kernels) names a file; the file its inode; the inode its shmem."""
        if self.memfds is None:
            inodes = {m["inode_id"]: m["shmid"] for m in self._load("memfd.img")}
            self.memfds = {f["id"]: inodes[f["memfd"]["inode_id"]]
                           for f in self._load("files.img") if f["type"] == "MEMFD"}
        return self.memfds[file_id]

    def _source(self, vma):
        """(pages, offset of the vma's first byte in their numbering)."""
        sid = None
        if vma["status"] & VMA_ANON_SHARED:
            sid = vma["shmid"]
        elif vma["status"] & VMA_AREA_MEMFD:
            sid = self._memfd_shmid(vma["shmid"])
        if sid is not None:
            if sid not in self.shmem:
                self.shmem[sid] = _Pages(self.dir, "pagemap-shmem-%d.img" % sid, self.key)
            return self.shmem[sid], vma["pgoff"]
        return self.private, vma["start"]

    def vma_at(self, addr):
        for vma in self.vmas:
            if vma["start"] <= addr < vma["end"]:
                return vma
        return None

    def read(self, addr, size):
        """(bytes, number of pages not in the checkpoint, read as zeros)."""
        out, missing = bytearray(), 0
        end = addr + size
        while addr < end:
            vma = self.vma_at(addr)
            if vma is None:
                raise MemError("task %d has no mapping at %#x" % (self.pid, addr))
            pages, base = self._source(vma)
            n = (addr - vma["start"] + base) // PAGE
            off = addr % PAGE
            chunk = min(end, vma["end"], (addr - off) + PAGE) - addr
            data = pages.page(n)
            if data is None:
                missing += 1
                data = bytes(PAGE)
            out += data[off:off + chunk]
            addr += chunk
        return bytes(out), missing

    def search(self, pattern):
        """Yield (address, vma) of every occurrence of pattern in the pages
        the checkpoint holds, runs of adjacent pages searched as one."""
        for vma in self.vmas:
            pages, base = self._source(vma)
            first = base // PAGE
            last = (vma["end"] - vma["start"] + base) // PAGE
            run, run_start = bytearray(), None
            for n in pages.present(first, last) + [None]:
                if run and (n is None or n != run_start + len(run) // PAGE):
                    yield from self._find(run, run_start, pattern, vma, base)
                    run = bytearray()
                if n is None:
                    break
                if not run:
                    run_start = n
                run += pages.page(n)

    @staticmethod
    def _find(run, run_start, pattern, vma, base):
        i = run.find(pattern)
        while i >= 0:
            yield vma["start"] + run_start * PAGE - base + i, vma
            i = run.find(pattern, i + 1)


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
