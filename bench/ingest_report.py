#!/usr/bin/env python3
"""Turns bench/ingest.sh's raw runs into the table on stdout and a JSON file.

Input: a TSV with one line per run (see ingest.sh, run_one). When a
configuration ran more than once, the run with the median time is reported.
"""
import argparse
import csv
import json
import os
import platform
import statistics
import sys


def mb(b: float) -> float:
    return b / 1e6


def load_runs(path: str) -> list:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        r["assoc"] = int(r["assoc"])
        r["client_nodelay"] = r["client_nodelay"] == "1"
        r["repeat"] = int(r["repeat"])
        r["files"] = int(r["files"])
        r["bytes"] = int(r["bytes"])
        r["seconds"] = float(r["seconds"])
        r["acked"] = int(r["acked"] or 0)
        r["peak_rss_kb"] = int(r["peak_rss_kb"]) if r["peak_rss_kb"] else None
        r["anon_kb"] = int(r["anon_kb"]) if r.get("anon_kb") else None
    return rows


def summarise(rows: list) -> list:
    """One entry per configuration: the median run among the successful ones."""
    groups = {}
    for r in rows:
        key = (r["set"], r["assoc"], r["server"], r["client_nodelay"])
        groups.setdefault(key, []).append(r)
    out = []
    for key, runs in groups.items():
        ok = [r for r in runs if r["status"] == "ok"]
        entry = {
            "set": key[0],
            "associations": key[1],
            "server": key[2],
            "transport": runs[0]["transport"],
            "client_tcp_nodelay": key[3],
            "runs": len(runs),
            "failed_runs": len(runs) - len(ok),
            "notes": sorted({r["note"] for r in runs if r["note"]}),
        }
        if ok:
            ok.sort(key=lambda r: r["seconds"])
            med = ok[(len(ok) - 1) // 2]
            entry.update(
                status="ok",
                files=med["files"],
                bytes=med["bytes"],
                seconds=med["seconds"],
                seconds_all=[r["seconds"] for r in ok],
                instances_per_s=round(med["files"] / med["seconds"], 1),
                mb_per_s=round(mb(med["bytes"]) / med["seconds"], 1),
                peak_rss_mib=(
                    round(max(r["peak_rss_kb"] for r in ok if r["peak_rss_kb"]) / 1024, 1)
                    if any(r["peak_rss_kb"] for r in ok)
                    else None
                ),
                anon_mib=(
                    round(max(r["anon_kb"] for r in ok if r["anon_kb"]) / 1024, 1)
                    if any(r["anon_kb"] for r in ok)
                    else None
                ),
            )
            if len(ok) > 1:
                entry["instances_per_s_stdev"] = round(
                    statistics.pstdev(r["files"] / r["seconds"] for r in ok), 1
                )
        else:
            entry.update(status="failed", files=runs[0]["files"], bytes=runs[0]["bytes"])
        out.append(entry)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--fsync", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--started", required=True)
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--instances", type=int, required=True)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--dd", nargs=2, action="append", metavar=("BYTES", "SECONDS"), default=[])
    ap.add_argument("--load", action="append", default=[], help="/proc/loadavg 1/5/15 min, start then end")
    ap.add_argument("--fs", default="")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--deleted-between-runs", type=int, default=0)
    ap.add_argument("--create", action="append", default=[], help="create_rate.py's JSON, at start then end")
    ap.add_argument("--set", action="append", default=[], help="name:size:modality:files:bytes")
    ap.add_argument("--orthanc-version", default="")
    ap.add_argument("--dcmtk-version", default="")
    ap.add_argument("--bastion-version", default="")
    ap.add_argument("--git", default="")
    a = ap.parse_args()

    rows = load_runs(a.runs)
    configs = summarise(rows)
    with open(a.fsync) as f:
        fsync = json.load(f)

    dd_runs = [
        {"bytes": int(b), "seconds": float(s), "mb_per_s": round(mb(int(b)) / float(s), 1)}
        for b, s in a.dd
        if float(s) > 0
    ]
    disk_limit = max((d["mb_per_s"] for d in dd_runs), default=None)

    sets = {}
    for spec in a.set:
        name, size, modality, files, nbytes = spec.split(":")
        sets[name] = {
            "rows": int(size),
            "cols": int(size),
            "modality": modality,
            "bits_allocated": 16,
            "files": int(files),
            "bytes": int(nbytes),
        }

    # Ratios against Orthanc in the same set and association count.
    orthanc = {
        (c["set"], c["associations"]): c
        for c in configs
        if c["server"] == "orthanc" and c["status"] == "ok"
    }
    for c in configs:
        if c["status"] != "ok":
            continue
        base = orthanc.get((c["set"], c["associations"]))
        if base and c["server"] != "orthanc":
            c["vs_orthanc_instances_per_s"] = round(c["instances_per_s"] / base["instances_per_s"], 2)
            if c.get("peak_rss_mib") and base.get("peak_rss_mib"):
                c["vs_orthanc_peak_rss"] = round(c["peak_rss_mib"] / base["peak_rss_mib"], 2)
            if c.get("anon_mib") and base.get("anon_mib"):
                c["vs_orthanc_anon"] = round(c["anon_mib"] / base["anon_mib"], 2)
        if disk_limit:
            c["pct_of_disk_dd"] = round(100 * c["mb_per_s"] / disk_limit, 1)

    result = {
        "benchmark": "ingest",
        "started": a.started,
        "quick": bool(a.quick),
        "instances_per_set": a.instances,
        "repeat": a.repeat,
        "git": a.git,
        "host": {
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "loadavg_start": a.load[0] if a.load else None,
            "loadavg_end": a.load[-1] if a.load else None,
            "filesystem": a.fs,
            "workdir": a.workdir,
        },
        "versions": {
            "bastion": a.bastion_version.strip(),
            "orthanc": a.orthanc_version,
            "dcmtk": a.dcmtk_version.strip(),
        },
        "method": {
            "client": "DCMTK storescu, wall time from start to exit of the last client "
            "(includes storescu's scan of the files); 4 associations = 4 storescu processes "
            "at once, each with a quarter of the files",
            "servers": "each run starts its server on an empty data directory and stops it "
            "after; peak RSS is that server process's VmHWM at the end of the run, and anon "
            "its RssAnon then (private memory, without the shared libraries' pages that RSS "
            "also counts)",
            "data_dirs": (
                "deleted between runs (disk space was short): runs after a deletion may be slowed"
                if a.deleted_between_runs
                else "kept until the bench ends, so that no run follows a mass deletion"
            ),
            "orthanc": "default durability (SyncStorageArea), TCP_NODELAY=1 for server and clients",
            "bastion": "server environment without TCP_NODELAY (it sets it itself); clients with "
            "TCP_NODELAY unset (Nagle on, DCMTK's default) or =1 as marked",
            "reference": "DCMTK storescp --fork --ignore: receives and discards, no disk: "
            "the client/transport ceiling",
            "network": "private network namespace with only lo",
        },
        "disk": {
            "dd_fdatasync_512MiB": dd_runs,
            "limit_mb_per_s": disk_limit,
            "per_file_fsync_one_writer": fsync,
            "create_empty_file_us": [json.loads(c)["us_per_create"] for c in a.create],
        },
        "sets": sets,
        "results": configs,
        "raw_runs": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    # ---- table
    p = print
    p()
    p(f"Bastion ingest benchmark — {a.started}{' (quick)' if a.quick else ''}, git {a.git}")
    for name, s in sets.items():
        p(
            f"  set {name:<6} {s['files']} x {s['modality']} {s['rows']}x{s['cols']} 16-bit, "
            f"{mb(s['bytes']):.1f} MB"
        )
    dd_txt = ", ".join(f"{d['mb_per_s']:.0f}" for d in dd_runs)
    p(f"  disk ({a.fs} under {a.workdir}): dd 512 MiB conv=fdatasync: {dd_txt} MB/s -> limit {disk_limit} MB/s")
    creates = [json.loads(c)["us_per_create"] for c in a.create]
    if creates:
        slow = any(c > 100 for c in creates)
        p(
            "  disk, creating an empty file: "
            + ", ".join(f"{c:.0f}" for c in creates)
            + " µs (start, end)"
            + (" -- SLOW: files were deleted here in the last minutes? The figures below are low;"
               " wait six minutes and rerun (bench/README.md)" if slow else "")
        )
    for name, f in fsync.items():
        p(
            f"  disk, one writer, write+fsync+rename+dir fsync per {f['size']} B file: "
            f"{f['files_per_s']:.0f} files/s, {f['mb_per_s']:.1f} MB/s ({name})"
        )
    p(f"  {a.bastion_version.strip() or 'bastion: not run'}; {a.orthanc_version}; {a.dcmtk_version.strip()}; {os.cpu_count()} CPUs")
    if a.load:
        p(f"  load average (1/5/15 min) at start: {a.load[0]}, at end: {a.load[-1]}"
          " (other work on the machine makes the figures noisy)")
    p("  peak RSS: per run (each server restarted on an empty data dir for every run);"
      " anon: its private memory (RssAnon) when the clients are done")
    p()
    hdr = f"{'set':<6} {'assoc':>5}  {'server':<16} {'client nodelay':<14} {'inst/s':>8} {'MB/s':>8} {'peak RSS':>10} {'anon':>8} {'vs Orthanc':>10} {'% disk':>7}"
    p(hdr)
    p("-" * len(hdr))
    order = {"orthanc": 0, "bastion-tls": 1, "bastion-plain": 2, "reference": 3}
    configs.sort(key=lambda c: (list(sets).index(c["set"]) if c["set"] in sets else 9,
                                c["associations"], order.get(c["server"], 9), c["client_tcp_nodelay"]))
    last = None
    for c in configs:
        group = (c["set"], c["associations"])
        if last is not None and group != last:
            p()
        last = group
        server = c["server"] if c["server"] != "reference" else "storescp-ignore"
        nd = "TCP_NODELAY=1" if c["client_tcp_nodelay"] else "unset"
        if c["status"] != "ok":
            p(f"{c['set']:<6} {c['associations']:>5}  {server:<16} {nd:<14} {'FAILED':>8}   {'; '.join(c['notes'])}")
            continue
        rss = f"{c['peak_rss_mib']:.0f} MiB" if c.get("peak_rss_mib") else "-"
        anon = f"{c['anon_mib']:.0f} MiB" if c.get("anon_mib") else "-"
        ratio = f"{c['vs_orthanc_instances_per_s']:.2f}x" if "vs_orthanc_instances_per_s" in c else ("1.00x" if c["server"] == "orthanc" else "-")
        pct = f"{c['pct_of_disk_dd']:.0f}%" if "pct_of_disk_dd" in c and c["server"] != "reference" else "-"
        p(f"{c['set']:<6} {c['associations']:>5}  {server:<16} {nd:<14} {c['instances_per_s']:>8.1f} {c['mb_per_s']:>8.1f} {rss:>10} {anon:>8} {ratio:>10} {pct:>7}")
    p()
    p(f"JSON: {a.out}")
    failed = [c for c in configs if c["status"] != "ok"]
    if failed:
        p(f"{len(failed)} configuration(s) failed; see the notes above and the log on stderr")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
