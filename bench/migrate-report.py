#!/usr/bin/python3
"""migrate.md from migrate.csv (bench/migrate.sh): per way of migrating,
the medians and spreads (min-max) of its times, bytes and disk use; the
ratios to plain --tls, each repetition against the one of the same
round; the targets of issue 21.

usage: migrate-report.py migrate.csv MIB CPU
"""
import csv
import statistics
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
mib, cpu = sys.argv[2], sys.argv[3]
NAMES = {"plain": "plain", "tls": "plain --tls", "enc": "--encrypt", "enc-tls": "--encrypt --tls"}


def num(r, k):
    return float(r[k]) if r[k] else float("nan")


for r in rows:
    r["freeze"] = num(r, "dump_s") + num(r, "copy_s") + num(r, "restore_s")
    r["total"] = r["freeze"] + num(r, "page_server_start_s")
    r["dump"], r["restore"] = num(r, "dump_s"), num(r, "restore_s")

by = {m: [r for r in rows if r["method"] == m] for m in NAMES}
bad = [r for r in rows if r["status"] != "ok" or r["verify"] != "ok"]


def spread(vals, fmt):
    vals = [v for v in vals if v == v]
    if not vals:
        return "-"
    return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(vals), min(vals), max(vals))


def ratios(m, key):
    base = {r["rep"]: r[key] for r in by["tls"]}
    return [r[key] / base[r["rep"]] for r in by[m] if r["rep"] in base and base[r["rep"]] > 0]


print("# Migration over loopback: plain, --tls, --encrypt, --encrypt --tls\n")
print("A process of %s MiB (bench/memhog.c) dumped to a page server on the same"
      " machine and restored from the page server's directory with the dump's"
      " images copied in; %d repetitions of each way, in alternation." % (mib, len(by["plain"])))
print("CPU: %s. This kernel has no soft-dirty tracking: no pre-dumps here; the"
      " migration is the final dump (the source frozen), the copy, the restore.\n" % cpu)
print("Medians, and (min-max) over the repetitions. freeze = dump + copy + restore;"
      " total = freeze + starting the page server.\n")
print("| way | dump s | restore s | freeze s | total s | bytes on lo | page server disk |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for m, name in NAMES.items():
    rs = by[m]
    print("| %s | %s | %s | %s | %s | %s | %s |" % (
        name, spread([num(r, "dump_s") for r in rs], "%.2f"),
        spread([num(r, "restore_s") for r in rs], "%.2f"),
        spread([r["freeze"] for r in rs], "%.2f"), spread([r["total"] for r in rs], "%.2f"),
        spread([num(r, "lo_bytes") / 2**20 for r in rs], "%.1f") + " MiB",
        spread([num(r, "page_server_disk_bytes") / 2**20 for r in rs], "%.1f") + " MiB"))
print("\nRatios to plain --tls (each repetition against the plain --tls one of its round):\n")
print("| way | dump | restore | freeze | total |")
print("| --- | --- | --- | --- | --- |")
for m in ("plain", "enc", "enc-tls"):
    print("| %s | %s | %s | %s | %s |" % (
        NAMES[m], spread(ratios(m, "dump"), "%.3f"), spread(ratios(m, "restore"), "%.3f"),
        spread(ratios(m, "freeze"), "%.3f"), spread(ratios(m, "total"), "%.3f")))
print("\n## Targets (issue 21)\n")
print("| target | measured (median, min-max) | |")
print("| --- | --- | --- |")
for m, key, lim in (("enc", "total", 1.10), ("enc", "freeze", 1.10), ("enc-tls", "total", 1.15), ("enc-tls", "freeze", 1.15)):
    rs = ratios(m, key)
    med = statistics.median(rs) if rs else float("nan")
    print("| %s %s <= %.2f x plain --tls | %s | %s |" % (NAMES[m], key, lim, spread(rs, "%.3f"),
                                                       "PASS" if med <= lim else "MISS"))
if bad:
    print("\nFailed or unverified migrations: %s" % ", ".join("%s rep %s (%s, %s)" % (
        r["method"], r["rep"], r["status"], r["verify"]) for r in bad))
else:
    print("\nEvery restored process checked all of its memory: ok.")
