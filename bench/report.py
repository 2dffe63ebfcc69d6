#!/usr/bin/python3
"""The report of a bench/run.sh run: results.csv (one row per repetition,
with CRIU's own statistics), summary.md (medians, ratios to plain criu of
the same run, every target of issue 7 with PASS or MISS) and the plots.

    report.py ROWS_CSV RAW_DIR OUT_DIR

CRIU's stats-dump and stats-restore images are decoded with pycriu (the
run's snapshot, on PYTHONPATH); they stay plain in encrypted checkpoints.
"""
import csv
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

try:
    import pycriu
except ImportError:  # the figures of criu's own statistics are then missing
    pycriu = None

TOOLS = ["age", "gpg", "openssl", "cms"]
POSTDUMP = {"auto": "each image of 1 MiB or more alone and the small ones in one tar stream",
            "tar": "one tar stream of the images directory", "files": "each image file alone"}
MIB = 1 << 20


def num(v):
    return float(v) if v not in ("", None) else None


def add(*vs):
    vs = [v for v in vs if v is not None]
    return sum(vs) if vs else None


def stats(path, kind):
    """CRIU's statistics image, as a dict; {} when absent or unreadable."""
    if pycriu is None or not os.path.exists(path):
        return {}
    try:
        with open(path, "rb") as f:
            return pycriu.images.load(f)["entries"][0][kind]
    except Exception as e:  # a half-written image of a failed run
        print(f"report: {path}: {e}", file=sys.stderr)
        return {}


def load_rows(rows_csv, raw):
    rows = []
    with open(rows_csv) as f:
        for r in csv.DictReader(f):
            d = os.path.join(raw, r["workload"], f"{r['method']}-{r['rep']}")
            sd = stats(os.path.join(d, "stats-dump"), "dump")
            sr = stats(os.path.join(d, "stats-restore"), "restore")
            g = {k: num(v) for k, v in r.items() if k.endswith(("_s", "_kib", "_bytes", "_faults")) or k == "files"}
            # dump: criu (with its post-dump script) and, on disk, the sync
            r["dump_s"] = add(g["dump_criu_s"], g["sync_s"])
            r["dump_cpu_s"] = add(g["dump_user_s"], g["dump_sys_s"], g["sync_user_s"], g["sync_sys_s"])
            # restore: the tool's decryption, then criu, whose restored
            # tasks read (and decrypt) their own pages
            r["restore_s"] = add(g["decrypt_s"], g["restore_criu_s"])
            r["restore_cpu_s"] = add(g["decrypt_user_s"], g["decrypt_sys_s"], g["restore_user_s"],
                                     g["restore_sys_s"], g["restored_tasks_cpu_s"])
            r["total_s"] = add(r["dump_s"], r["restore_s"]) if r["restore_s"] is not None else None
            r["frozen_s"] = sd["frozen_time"] / 1e6 if "frozen_time" in sd else None
            r["freezing_s"] = sd["freezing_time"] / 1e6 if "freezing_time" in sd else None
            r["memdump_s"] = sd["memdump_time"] / 1e6 if "memdump_time" in sd else None
            r["memwrite_s"] = sd["memwrite_time"] / 1e6 if "memwrite_time" in sd else None
            r["pages_written"] = sd.get("pages_written")
            r["stats_restore_s"] = sr["restore_time"] / 1e6 if "restore_time" in sr else None
            r["stats_forking_s"] = sr["forking_time"] / 1e6 if "forking_time" in sr else None
            r["pages_restored"] = sr.get("pages_restored")
            for k, v in g.items():
                r[k] = v
            rows.append(r)
    return rows


def write_csv(rows, path):
    keys = list(rows[0].keys()) if rows else []
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]))
                        for k in keys})


def medians(rows):
    """{(workload, method): {metric: median}} over the repetitions that succeeded, and the
    (min, max) of dump and restore time as dump_s_range and restore_s_range."""
    groups = {}
    for r in rows:
        groups.setdefault((r["workload"], r["method"]), []).append(r)
    med = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        m = {"n": len(ok), "failed": len(rs) - len(ok),
             "verify": ",".join(sorted({r["verify"] for r in ok})) or "-"}
        for k in ("dump_s", "restore_s", "total_s", "dump_cpu_s", "restore_cpu_s", "frozen_s", "memwrite_s",
                  "memdump_s", "stats_restore_s", "dump_rss_kib", "restore_rss_kib", "decrypt_rss_kib",
                  "size_bytes", "apparent_bytes", "files", "pages_written", "decrypt_s", "sync_s",
                  "restored_tasks_cpu_s", "restored_tasks_faults"):
            vs = [r[k] for r in ok if r.get(k) is not None]
            m[k] = statistics.median(vs) if vs else None
            if k in ("dump_s", "restore_s"):
                m[k + "_range"] = (min(vs), max(vs)) if vs else None
        med[key] = m
    return med


def primitives(path):
    runs = {}
    if os.path.exists(path):
        for line in open(path):
            p = line.split()
            if len(p) == 4 and p[3] == "MB/s":
                runs.setdefault(p[1], []).append(float(p[2]))
    return {k: statistics.median(v) for k, v in runs.items()}


def fmt(v, d=2):
    return "n/a" if v is None else f"{v:.{d}f}"


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


class Targets:
    def __init__(self):
        self.rows = []

    def check(self, name, wl, text, value, limit, at_least=False, spread=None):
        """spread: the same figure of each repetition (or round) alone, to show its min-max"""
        if value is None:
            verdict = "n/a"
        else:
            verdict = "PASS" if (value >= limit if at_least else value <= limit) else "MISS"
        rel = ">=" if at_least else "<="
        sp = [v for v in (spread or []) if v is not None]
        sp = f"{fmt(min(sp))} to {fmt(max(sp))} ({len(sp)})" if sp else "-"
        self.rows.append((name, wl, text, fmt(value), sp, f"{rel} {limit:g}", verdict))


def per_rep(rows, wl, m, k):
    """{repetition: k} of method m in workload wl, the repetitions that succeeded"""
    return {r["rep"]: r[k] for r in rows
            if r["workload"] == wl and r["method"] == m and r["status"] == "ok" and r.get(k) is not None}


def paired(f, *series):
    """f of each repetition that every series has (a method and plain of the same round)"""
    reps = set(series[0]).intersection(*series[1:])
    out = []
    for rep in sorted(reps):
        try:
            out.append(f(*(x[rep] for x in series)))
        except ZeroDivisionError:
            pass
    return out


def best_tool(med, wl, metric, tools):
    """The post-dump tool with the smallest median of metric in wl."""
    c = [(med[(wl, t)][metric], t) for t in tools if (wl, t) in med and med[(wl, t)][metric] is not None]
    return min(c) if c else (None, None)


def targets(med, rows, workloads, prim):
    t = Targets()
    for wl in workloads:
        kind, storage = wl.split("-")[0], wl.split("-")[-1]
        p, e = med.get((wl, "plain")), med.get((wl, "enc"))
        if not p or not e:
            continue
        tools = [m for (w, m) in med if w == wl and m in TOOLS]
        ovh = {}
        for ph in ("dump", "restore", "total"):
            k = ph + "_s"
            ovh[ph] = (e[k] - p[k]) if e[k] is not None and p[k] is not None else None

        def reps(m, k):
            return per_rep(rows, wl, m, k)

        def vs_tools(ph, frac, label):
            k = ph + "_s"
            bt, name = best_tool(med, wl, k, tools)
            if bt is None or ovh[ph] is None:
                return t.check(label, wl, "no post-dump tool measured", None, frac)
            tool_ovh = bt - p[k]
            r = ovh[ph] / tool_ovh if tool_ovh > 0 else None
            t.check(label, wl, f"enc {ovh[ph]:+.2f} s vs {name} {tool_ovh:+.2f} s over plain", r, frac,
                    spread=paired(lambda a, b, c: (a - b) / (c - b), reps("enc", k), reps("plain", k), reps(name, k)))

        def vs_plain(ph, limit, label, m="enc", base="plain"):
            k = ph + "_s"
            a, b = med.get((wl, m)), med.get((wl, base))
            if a and b:
                t.check(label, wl, f"{m} {fmt(a[k])} s / {base} {fmt(b[k])} s", ratio(a[k], b[k]), limit,
                        spread=paired(lambda x, y: x / y, reps(m, k), reps(base, k)))

        def end_to_end(limit, label):
            bt, name = best_tool(med, wl, "total_s", tools)
            t.check(label, wl, f"{name} {fmt(bt)} s / enc {fmt(e['total_s'])} s (dump + restore)",
                    ratio(bt, e["total_s"]), limit, at_least=True,
                    spread=paired(lambda a, b: a / b, reps(name, "total_s"), reps("enc", "total_s")))

        def vs_cipher(ph, prim_name, label):
            mbps = prim.get(prim_name)
            pages = e.get("pages_written")
            if not mbps or not pages or ovh[ph] is None:
                return t.check(label, wl, f"no {prim_name} figure", None, 1.3)
            cipher = pages * 4096 / (mbps * 1e6)
            k = ph + "_s"
            t.check(label, wl, f"enc {ovh[ph]:+.2f} s vs {prim_name} {cipher:.2f} s for {pages * 4096 / MIB:.0f} MiB",
                    ovh[ph] / cipher, 1.3, spread=paired(lambda a, b: (a - b) / cipher, reps("enc", k), reps("plain", k)))

        if kind == "mem" and storage == "shm":
            vs_plain("dump", 1.25, "mem/tmpfs: dump enc / plain")
            vs_tools("dump", 0.2, "mem/tmpfs: dump overhead / best tool's")
            vs_cipher("dump", "pages-seal", "mem/tmpfs: dump overhead / page cipher alone")
            vs_tools("restore", 0.2, "mem/tmpfs: restore overhead / best tool's")
            vs_cipher("restore", "pages-open", "mem/tmpfs: restore overhead / page cipher alone")
        if kind == "mem" and storage == "disk":
            vs_plain("dump", 1.10, "mem/disk: dump enc / plain")
            vs_plain("restore", 1.10, "mem/disk: restore enc / plain")
        if kind == "tree":
            vs_plain("dump", 1.05, "tree: dump enc / plain")
            vs_plain("restore", 1.05, "tree: restore enc / plain")
            n = int(wl.split("-")[1])
            k = "restore_cpu_s"
            per_task = (e[k] - p[k]) * 1000 / n if e[k] is not None and p[k] is not None else None
            t.check("tree: restore CPU per task: enc - plain (ms)", wl,
                    f"enc {fmt(e[k])} s - plain {fmt(p[k])} s of CPU, {n} tasks", per_task, 0.5,
                    spread=paired(lambda a, b: (a - b) * 1000 / n, reps("enc", k), reps("plain", k)))
        if kind == "raw":
            vs_tools("dump", 0.5, "raw: dump overhead / best tool's")
            vs_tools("restore", 0.5, "raw: restore overhead / best tool's")
        if kind == "mem":
            end_to_end(2, "mem: end to end, best tool / enc")
        t.check("space on disk: enc / plain", wl,
                f"{fmt(ratio(e['size_bytes'], MIB))} / {fmt(ratio(p['size_bytes'], MIB))} MiB allocated "
                f"(file sizes: {fmt(ratio(e['apparent_bytes'], p['apparent_bytes']), 3)}x)",
                ratio(e["size_bytes"], p["size_bytes"]), 1.01,
                spread=paired(lambda a, b: a / b, reps("enc", "size_bytes"), reps("plain", "size_bytes")))
        for ph in ("dump", "restore"):
            k = ph + "_rss_kib"
            d = (e[k] - p[k]) / 1024 if e[k] is not None and p[k] is not None else None
            t.check(f"criu peak RSS, {ph}: enc - plain (MiB)", wl,
                    f"{fmt(ratio(e[k], 1024), 0)} - {fmt(ratio(p[k], 1024), 0)} MiB", d, 64,
                    spread=paired(lambda a, b: (a - b) / 1024, reps("enc", k), reps("plain", k)))
        # this project's patches cost a plain run nothing: plain criu against criu 4.1.1 without them
        for ph in ("dump", "restore"):
            vs_plain(ph, 1.05, f"plain, {ph}: with the patches / without", "plain", "base")
    return t.rows


def b2b_targets(path):
    """The back-to-back dumps of bench/b2b.sh: targets, and a table of medians"""
    rounds = {}
    if not os.path.exists(path):
        return [], []
    with open(path) as f:
        for r in csv.DictReader(f):
            rounds.setdefault(r["method"], {})[r["round"]] = (float(r["wall_s"]), float(r["user_s"]) +
                                                              float(r["sys_s"]), float(r["rss_kib"]) / 1024)
    t = Targets()
    wl = "b2b"
    if "plain" not in rounds:
        return [], []

    def med(m, i):
        return statistics.median(v[i] for v in rounds[m].values()) if m in rounds else None

    def col(m, i):
        return {k: v[i] for k, v in rounds.get(m, {}).items()}

    p = med("plain", 0)
    if "enc" in rounds:
        t.check("back to back: dump enc / plain", wl, f"enc {fmt(med('enc', 0))} s / plain {fmt(p)} s",
                ratio(med("enc", 0), p), 1.25, spread=paired(lambda a, b: a / b, col("enc", 0), col("plain", 0)))
        if "age" in rounds:
            t.check("back to back: dump overhead / age's", wl,
                    f"enc {med('enc', 0) - p:+.2f} s vs age {med('age', 0) - p:+.2f} s over plain",
                    ratio(med("enc", 0) - p, med("age", 0) - p), 0.2,
                    spread=paired(lambda a, b, c: (a - b) / (c - b), col("enc", 0), col("plain", 0), col("age", 0)))
        t.check("back to back: criu peak RSS, dump: enc - plain (MiB)", wl,
                f"{fmt(med('enc', 2), 0)} - {fmt(med('plain', 2), 0)} MiB", med("enc", 2) - med("plain", 2), 64,
                spread=paired(lambda a, b: a - b, col("enc", 2), col("plain", 2)))
    if "base" in rounds:
        t.check("back to back: plain dump with the patches / without", wl,
                f"plain {fmt(p)} s / base {fmt(med('base', 0))} s", ratio(p, med("base", 0)), 1.05,
                spread=paired(lambda a, b: a / b, col("plain", 0), col("base", 0)))
    table = ["| method | dump s, median | min | max | CPU s | peak RSS MiB | rounds |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m, v in rounds.items():
        w = [x[0] for x in v.values()]
        table.append(f"| {m} | {fmt(med(m, 0))} | {fmt(min(w))} | {fmt(max(w))} | {fmt(med(m, 1))} "
                     f"| {fmt(med(m, 2), 0)} | {len(w)} |")
    return t.rows, table


def fault_costs(path):
    """{"anon-fault": us, "file-fault": us} from machine.txt (faultcost.c)."""
    costs = {}
    if os.path.exists(path):
        for line in open(path):
            p = line.split()
            if len(p) == 3 and p[0].endswith("-fault") and p[2] == "us":
                costs[p[0]] = float(p[1])
    return costs


def crit_targets(path):
    """CRIT against age -d | tar -x (bench/crit.sh): targets, per size"""
    runs = {}
    if not os.path.exists(path):
        return []
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["status"] == "ok":
                runs.setdefault((int(r["size_mib"]), r["storage"]), {}).setdefault(r["method"], {})[r["rep"]] = \
                    (float(r["wall_s"]), float(r["maxrss_kib"]) / 1024)
    t = Targets()
    for (mib, storage), ms in sorted(runs.items()):
        wl = f"crit-{mib}M-{storage}"
        age = ms.get("age", {})
        a = statistics.median(v[0] for v in age.values()) if age else None
        for m in ("decrypt", "grep", "mem"):
            if m not in ms:
                continue
            w = statistics.median(v[0] for v in ms[m].values())
            t.check(f"crit {m} / age -d + tar -x", wl, f"crit {m} {fmt(w)} s / age {fmt(a)} s", ratio(w, a), 2,
                    spread=paired(lambda x, y: x[0] / y[0], ms[m], age))
            rss = max(v[1] for v in ms[m].values())
            t.check(f"crit {m}: peak RSS (MiB)", wl, f"largest of {len(ms[m])}", rss, 256,
                    spread=[v[1] for v in ms[m].values()])
    return t.rows


def cpu_model(path):
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def notes(med, workloads, faults):
    """What a reader of the targets should know, from this run's figures."""
    out = []

    def m(wl, meth, k):
        return med.get((wl, meth), {}).get(k)

    fast = [wl for wl in workloads if (ratio(m(wl, "enc", "restore_s"), m(wl, "plain", "restore_s")) or 1) < 0.8]
    if fast:
        wl = max(fast, key=lambda w: m(w, "plain", "restore_s") or 0)
        out.append(f"- **--encrypt restores faster than plain criu** on {', '.join(fast)} "
                   f"({wl}: {fmt(m(wl, 'enc', 'restore_s'))} s against {fmt(m(wl, 'plain', 'restore_s'))} s). "
                   "The two paths differ: plain criu's restorer reads pages into place itself, an encrypted "
                   "restore premaps and reads them in criu (see bench/README.md). Ratios of restore time to "
                   "plain, and the restore targets measured against plain, flatter --encrypt there; the post-dump "
                   "tools restore through plain criu, so enc against a tool compares the two paths too.")
    mem = [wl for wl in workloads if wl.startswith("mem-") and m(wl, "enc", "frozen_s") is not None]
    if mem:
        wl = max(mem, key=lambda w: m(w, "plain", "size_bytes") or 0)
        bt, name = best_tool(med, wl, "frozen_s", TOOLS)
        if bt is not None:
            out.append(f"- **Frozen time**: a post-dump script runs while the tasks are still frozen, so with a "
                       f"tool they stay frozen while it encrypts: on {wl}, {fmt(m(wl, 'plain', 'frozen_s'))} s "
                       f"plain, {fmt(m(wl, 'enc', 'frozen_s'))} s with --encrypt, {fmt(bt)} s with {name}.")
    for wl in workloads:
        e, p = med.get((wl, "enc")), med.get((wl, "plain"))
        if e and p and (ratio(e["size_bytes"], p["size_bytes"]) or 0) > 1.01:
            out.append(f"- **Space on {wl}**: {fmt(e['files'], 0)} images with --encrypt against "
                       f"{fmt(p['files'], 0)} plain (pagetags.img, cipher.img, manifest.img), "
                       "and a file system allocates whole blocks to each: the allocated size grows by "
                       f"{fmt(ratio(e['size_bytes'], p['size_bytes']), 3)}x, the bytes in the files by "
                       f"{fmt(ratio(e['apparent_bytes'], p['apparent_bytes']), 3)}x.")
    for wl in workloads:
        if not wl.startswith("tree-") or "anon-fault" not in faults:
            continue
        e, p = m(wl, "enc", "restored_tasks_faults"), m(wl, "plain", "restored_tasks_faults")
        if e is None or p is None:
            continue
        n = int(wl.split("-")[1])
        out.append(f"- **Page faults on {wl}**: its {n} restored tasks took {fmt(e, 0)} page faults with "
                   f"--encrypt and {fmt(p, 0)} plain ({fmt((e - p) / n, 1)} more a task); a fault costs "
                   f"{fmt(faults['anon-fault'], 1)} us (anonymous) to {fmt(faults.get('file-fault'), 1)} us "
                   f"(file) here (machine.txt), so that is about "
                   f"{fmt((e - p) * faults.get('file-fault', faults['anon-fault']) / 1e6)} s of CPU. "
                   f"Their CPU until the restore ended: {fmt(m(wl, 'enc', 'restored_tasks_cpu_s'))} s "
                   f"against {fmt(m(wl, 'plain', 'restored_tasks_cpu_s'))} s.")
    for wl in workloads:
        if not wl.startswith("tree-"):
            continue
        ph = []
        for k, label in (("dump_s", "dump"), ("restore_s", "restore")):
            p, e = m(wl, "plain", k + "_range"), m(wl, "enc", k + "_range")
            if p and e:
                ph.append(f"{label} {fmt(p[0])} to {fmt(p[1])} s plain, {fmt(e[0])} to {fmt(e[1])} s with "
                          f"--encrypt (fastest runs: {fmt(ratio(e[0], p[0]))}x)")
        if ph:
            out.append(f"- **Spread on {wl}**: over its repetitions, " + "; ".join(ph) + ". A tree's times on "
                       "this 2-core VM vary by more than the 5 % its targets allow (see bench/README.md).")
    return (["## Reading these figures\n"] + out + [""]) if out else []


def plot(med, workloads, methods, out):
    n = len(workloads)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    height = 3.2 * rows + 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, height), squeeze=False)
    colors = {"plain": "#7f7f7f", "enc": "#1f77b4", "age": "#2ca02c", "gpg": "#d62728", "openssl": "#ff7f0e",
              "cms": "#9467bd"}
    for ax, wl in zip(axes.flat, workloads):
        ms = [m for m in methods if (wl, m) in med]
        w = 0.8 / max(1, len(ms))
        for i, m in enumerate(ms):
            d = [med[(wl, m)][k] or 0 for k in ("dump_s", "restore_s")]
            ax.bar([x + i * w for x in (0, 1)], d, w, label=m, color=colors.get(m))
        ax.set_xticks([0.4 - w / 2, 1.4 - w / 2])
        ax.set_xticklabels(["dump", "restore"])
        ax.set_title(wl, fontsize=10)
        ax.set_ylabel("seconds (median)")
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=len(labels),
               title="criu dump and restore: plain, --encrypt, and post-dump tools (median of the repetitions)")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / height))
    fig.savefig(os.path.join(out, "times.png"), dpi=110)
    plt.close(fig)

    # ratios to plain, one group per workload
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.3 * n) * 1.0 + 4, 4.2), squeeze=False)
    for ax, ph in zip(axes.flat, ("dump", "restore")):
        ms = [m for m in methods if m != "plain"]
        w = 0.8 / max(1, len(ms))
        for i, m in enumerate(ms):
            ys = [ratio(med.get((wl, m), {}).get(ph + "_s"), med.get((wl, "plain"), {}).get(ph + "_s")) or 0
                  for wl in workloads]
            ax.bar([x + i * w for x in range(n)], ys, w, label=m, color=colors.get(m))
        ax.axhline(1, color="black", lw=0.8)
        ax.set_xticks([x + 0.4 - w / 2 for x in range(n)])
        ax.set_xticklabels(workloads, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(f"{ph} time / plain criu {ph}")
        ax.set_title(ph)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "ratios.png"), dpi=110)
    plt.close(fig)


def main():
    rows_csv, raw, out = sys.argv[1:4]
    rows = load_rows(rows_csv, raw)
    write_csv(rows, os.path.join(out, "results.csv"))
    med = medians(rows)
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    prim = primitives(os.path.join(out, "primitives.txt"))
    tg = targets(med, rows, workloads, prim)
    b2b, b2b_table = b2b_targets(os.path.join(os.path.dirname(rows_csv), "b2b.csv"))
    tg += b2b + crit_targets(os.path.join(os.path.dirname(rows_csv), "crit.csv"))
    plot(med, workloads, methods, out)

    L = []
    runtime = os.environ.get("BENCH_RUNTIME")
    reps = {wl: max((int(r["rep"]) for r in rows if r["workload"] == wl), default=0) for wl in workloads}
    L.append("# criu dump --encrypt: benchmark summary\n")
    quick = " in quick mode (small sizes, few repetitions: for development only)" if os.environ.get("BENCH_QUICK") == "1" else ""
    L.append(f"One run of `make bench`{quick} on this machine (see `machine.txt`){f', {int(runtime) // 60} min {int(runtime) % 60} s' if runtime else ''}. "
             "Every figure is the median of the repetitions of one workload, methods measured in alternation "
             "in the same run; ratios are to plain criu of the same run. "
             f"Post-dump tools encrypt {POSTDUMP.get(os.environ.get('BENCH_POSTDUMP', 'auto'), '?')} "
             "from criu's post-dump action script and remove the plaintext; their restore time includes "
             "the decryption. Raw rows: `results.csv`; plots: `times.png`, `ratios.png`.\n")
    L.append(f"**CPU: {cpu_model(os.path.join(out, 'machine.txt'))}**, {os.cpu_count()} CPUs; every figure "
             "below was measured on it.\n")
    fails = [r for r in rows if r["status"] != "ok" or not r["verify"].startswith("ok")]
    if fails:
        L.append("**Failed or unverified repetitions:** " + ", ".join(
            f"{r['workload']} {r['method']} rep {r['rep']} ({r['status']}, verify {r['verify']})" for r in fails) + "\n")

    L.append("## Targets\n")
    L.append("| target | workload | measured | value | spread (n) | limit | |")
    L.append("| --- | --- | --- | ---: | --- | --- | --- |")
    for name, wl, text, val, sp, lim, v in tg:
        L.append(f"| {name} | {wl} | {text} | {val} | {sp} | {lim} | **{v}** |")
    np_ = sum(1 for x in tg if x[6] == "PASS")
    nm = sum(1 for x in tg if x[6] == "MISS")
    L.append(f"\n{np_} PASS, {nm} MISS, {len(tg) - np_ - nm} n/a.\n")

    L.append("value: from the medians; spread: the same figure of each repetition alone, its method measured "
             "against plain (or the tool) of the same repetition, min to max (and how many).\n")
    L.extend(notes(med, workloads, fault_costs(os.path.join(out, "machine.txt"))))
    if b2b_table:
        L.append("## Back-to-back dumps (bench/b2b.sh)\n")
        L.append("One process dumped to tmpfs over and over with no pause (`--leave-running`, the last "
                 "checkpoint removed before each), methods in turn, each round starting one method later; "
                 "`base` is criu 4.1.1 without this project's patches.\n")
        L.extend(b2b_table + [""])
    L.append("## Medians per workload\n")
    L.append("dump and restore in seconds (x plain); CPU: user + system of criu, its script and tools, and, at "
             "restore, of the restored tasks until they run; frozen and memwrite from criu's stats-dump; RSS: "
             "peak of criu (with a post-dump script: of criu or a tool, whichever is larger) in MiB; size: "
             "the checkpoint on its file system.\n")
    for wl in workloads:
        p = med.get((wl, "plain"), {})
        L.append(f"### {wl} ({reps[wl]} repetitions)\n")
        L.append("| method | dump s | restore s | dump+restore s | dump CPU s | restore CPU s | frozen s | memwrite s "
                 "| RSS dump/restore MiB | size MiB | images | ok/verified |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for m in methods:
            e = med.get((wl, m))
            if not e:
                continue

            def x(k):
                r = ratio(e[k], p.get(k))
                return f"{fmt(e[k])} ({fmt(r)}x)" if m != "plain" and r is not None else fmt(e[k])

            L.append(f"| {m} | {x('dump_s')} | {x('restore_s')} | {x('total_s')} | {fmt(e['dump_cpu_s'])} "
                     f"| {fmt(e['restore_cpu_s'])} | {fmt(e['frozen_s'])} | {fmt(e['memwrite_s'])} "
                     f"| {fmt(ratio(e['dump_rss_kib'], 1024), 0)}/{fmt(ratio(e['restore_rss_kib'], 1024), 0)} "
                     f"| {fmt(ratio(e['size_bytes'], MIB), 1)} | {fmt(e['files'], 0)} "
                     f"| {e['n']}/{e['failed'] + e['n']} {e['verify']} |")
        L.append("")

    L.append("## Primitives on one core (MB/s, median of 3)\n")
    if prim:
        L.append("| primitive | MB/s |")
        L.append("| --- | ---: |")
        for k, v in prim.items():
            L.append(f"| {k} | {v:.0f} |")
    else:
        L.append("not measured (bench/primitives.c did not build against this tree)")
    L.append("")
    L.append("## How it was measured\n")
    L.append("- Each workload is started once in its own pid namespace and fully populated; every dump uses "
             "`--leave-running`, so one process serves all methods and repetitions; every restore is "
             "`criu restore -d` into a new pid namespace, checked (the restored process verifies all its "
             "memory, file and pipe contents, or the tree its pipes and sockets), then killed.")
    L.append("- Repetitions alternate the methods, each starting one method later than the one before.")
    L.append("- tmpfs: nothing is dropped (the images are the page cache). Disk: page caches are dropped "
             "before every dump and every restore, and the dump time includes `sync -f` of the checkpoint.")
    L.append("- Overhead = median(method) - median(plain). The best tool is the one with the smallest median "
             "for that figure in that workload. 'page cipher alone' = the checkpoint's pages at the measured "
             "pages-seal (dump) or pages-open (restore) speed on one core.")
    L.append("- Wall time excludes the workload's start and the check of the restored copy.")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L[: 4 + len(tg) + 6]))


if __name__ == "__main__":
    main()
