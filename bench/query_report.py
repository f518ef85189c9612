#!/usr/bin/env python3
"""C-FIND timings for bench/query.sh, and the report made of them.

  query_report.py measure ...   times findscu (and echoscu) against running
                                servers, writes one raw JSON per catalog size
  query_report.py report ...    turns the raw JSON files into the tables on
                                stdout and bench/results/query-<time>.json

Two kinds of figure, each measured the same way for every server:

  - the wall-clock time of a whole findscu (or echoscu) process, from fork to
    exit: findscu's start-up (loading the data dictionary), the TCP connect,
    the association, the query, every response and the release. The echoscu
    rows give the part of that which is not the query.
  - bastion-findlat (tools/findlat): one process per shape and server that
    opens an association, sends the C-FIND, counts the responses and releases,
    once per run, and times in-process with a monotonic clock: "find" is
    C-FIND request sent -> final response received, "first" request -> first
    response, "total" association + find + release. No start-up in any of it.
Standard library only.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time

# ---------------------------------------------------------------- measure

RESPONSE_RE = re.compile(r"Find Response:? *\d+ *\(Pending", re.IGNORECASE)
FINAL_RE = re.compile(r"Final Find Response.*", re.IGNORECASE)


def findscu_cmd(aec: str, port: int, return_keys: list, match: str, verbose: bool) -> list:
    cmd = ["findscu", "-S", "-aet", "BENCH", "-aec", aec, "-to", "30", "-ta", "30", "-td", "600"]
    if verbose:
        cmd.append("-v")
    cmd += ["127.0.0.1", str(port), "-k", "QueryRetrieveLevel=STUDY"]
    for k in return_keys:
        cmd += ["-k", k]
    cmd += ["-k", match]  # after the return keys: it replaces the empty one
    return cmd


def echoscu_cmd(aec: str, port: int) -> list:
    return ["echoscu", "-aet", "BENCH", "-aec", aec, "-to", "30", "-ta", "30", "127.0.0.1", str(port)]


ENV = dict(os.environ, TCP_NODELAY="1")


def timed(cmd: list) -> tuple:
    """(seconds, exit code) of one run, output discarded.

    Not subprocess.run(timeout=...): with a timeout, Popen.wait polls with
    sleeps doubling from 0.5 ms to 50 ms, so every time came out rounded up to
    the next poll (~32, 64, 114, 164 ms, ...). A blocking wait, and a timer
    that kills the process after 900 s, instead."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=ENV)
    timer = threading.Timer(900, p.kill)
    timer.start()
    try:
        rc = p.wait()
    finally:
        timer.cancel()
    return time.perf_counter() - t0, rc


def count_run(cmd: list) -> dict:
    """One untimed verbose run: how many matches, the final status."""
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=ENV, timeout=900, text=True, errors="replace")
    matches = sum(1 for line in p.stdout.splitlines() if RESPONSE_RE.search(line))
    final = FINAL_RE.findall(p.stdout)
    final_line = final[-1].strip() if final else ""
    status = "?"
    m = re.search(r"\(([^)]*)\)", final_line)
    if m:
        status = m.group(1)
    if not final_line:
        tail = [l for l in p.stdout.splitlines() if l.startswith(("E:", "F:", "W:"))][-3:]
        status = "no final response: " + " | ".join(tail)
    return {"matches": matches, "final_status": status, "exit": p.returncode}


def stats(times: list) -> dict:
    ms = sorted(t * 1000 for t in times)
    n = len(ms)
    p95 = ms[max(0, min(n - 1, -(-95 * n // 100) - 1))]  # nearest rank
    return {
        "n": n,
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(p95, 2),
        "min_ms": round(ms[0], 2),
        "max_ms": round(ms[-1], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def series(cmd: list, runs: int, warmup: int, budget: float, label: str) -> dict:
    for _ in range(warmup):
        timed(cmd)
    times, codes = [], []
    spent = 0.0
    for i in range(runs):
        t, rc = timed(cmd)
        times.append(t)
        codes.append(rc)
        spent += t
        if spent > budget and i + 1 >= 3:
            print(f"  {label}: stopped after {i + 1} runs ({spent:.0f} s > budget)", file=sys.stderr)
            break
    out = stats(times)
    out["exit_codes"] = sorted(set(codes))
    out["all_ms"] = [round(t * 1000, 2) for t in times]
    return out


def findlat_cmd(binary: str, aec: str, port: int, return_keys: list, match: str,
                runs: int, warmup: int) -> list:
    cmd = [binary, "--host", "127.0.0.1", "--port", str(port), "--called-ae", aec, "--calling-ae", "BENCH",
           "--model", "study", "--level", "STUDY", "--runs", str(runs), "--warmup", str(warmup),
           "--timeout", "30", "--run-timeout", "900", "--json"]
    for k in return_keys:
        cmd += ["-k", k]
    cmd += ["-k", match]  # after the return keys: it replaces the empty one
    return cmd


def findlat_series(binary: str, aec: str, port: int, keys: list, match: str, runs: int, warmup: int,
                   budget: float, hint_s: float, label: str) -> dict:
    """In-process timings of one shape against one server (bastion-findlat).

    The number of runs is cut, like findscu's, so that they take about
    `budget` seconds (at least 3), estimated from findscu's median `hint_s`."""
    n = runs
    if hint_s > 0 and hint_s * runs > budget:
        n = max(3, min(runs, int(budget / hint_s)))
        print(f"  {label}: bastion-findlat runs cut to {n} (budget)", file=sys.stderr)
    w = min(warmup, 1) if n < runs else warmup
    cmd = findlat_cmd(binary, aec, port, keys, match, n, w)
    timeout = max(600.0, 3 * budget + 120 + hint_s * (n + w) * 2)
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=ENV, timeout=timeout, text=True, errors="replace")
    except subprocess.TimeoutExpired:
        return {"error": f"bastion-findlat took more than {timeout:.0f} s", "n": 0}
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    except ValueError:
        out = {}
    if p.returncode != 0 or "find" not in out:
        err = out.get("error") or p.stderr.strip().splitlines()[-1:] or [f"exit {p.returncode}"]
        return {"error": err if isinstance(err, str) else err[0], "exit": p.returncode, "n": 0}
    out["n"] = out.get("runs", n)
    out["exit"] = p.returncode
    return out


def cmd_measure(a) -> None:
    shapes = []
    with open(a.shapes) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                name, match = line.split("\t", 1)
                shapes.append((name, match))
    keys = [k for k in a.return_keys.split(",") if k]
    servers = []
    for s in a.server:
        name, aec, port = s.split(":")
        servers.append((name, aec, int(port)))
    fills = {}
    for f in a.fill:
        name, d = f.split(":", 1)
        chunks = []
        try:
            with open(os.path.join(d, "chunks")) as fh:
                for line in fh:
                    parts = line.split()
                    if len(parts) == 3:
                        chunks.append((parts[0], int(parts[1]), float(parts[2])))
        except OSError:
            pass
        how = ""
        try:
            how = open(os.path.join(d, "fill.how")).read().strip()
        except OSError:
            pass
        n = sum(c[1] for c in chunks)
        secs = sum(c[2] for c in chunks)
        fills[name] = {"how": how, "instances": n, "seconds": round(secs, 1),
                       "instances_per_s": round(n / secs, 1) if secs else None, "chunks": len(chunks)}
    with open(a.set) as f:
        catalog = json.load(f)

    raw = {"size": a.size, "catalog": catalog, "fill": fills, "counts": a.counts,
           "return_keys": keys, "runs": a.runs, "warmup": a.warmup, "budget_s": a.budget,
           "peak_rss_kib": {"bastion": a.bastion_rss, "orthanc": a.orthanc_rss},
           "echo": {}, "shapes": []}
    for name, aec, port in servers:
        print(f"[size {a.size}] {name}: echoscu x{a.runs}", file=sys.stderr)
        raw["echo"][name] = series(echoscu_cmd(aec, port), a.runs, a.warmup, a.budget, f"{name} echo")
    for shape, match in shapes:
        entry = {"shape": shape, "match": match, "servers": {}}
        for name, aec, port in servers:
            print(f"[size {a.size}] {name}: {shape} ({match})", file=sys.stderr)
            cnt = count_run(findscu_cmd(aec, port, keys, match, True))
            res = series(findscu_cmd(aec, port, keys, match, False), a.runs, max(0, a.warmup - 1),
                         a.budget, f"{name} {shape}")
            res.update(cnt)
            print(f"    {cnt['matches']} matches ({cnt['final_status']}), median {res['median_ms']} ms,"
                  f" p95 {res['p95_ms']} ms, n={res['n']}", file=sys.stderr)
            if a.findlat:
                fl = findlat_series(a.findlat, aec, port, keys, match, a.runs, a.warmup, a.budget,
                                    res["median_ms"] / 1000, f"{name} {shape}")
                res["inproc"] = fl
                if "error" in fl:
                    print(f"    bastion-findlat: {fl['error']}", file=sys.stderr)
                else:
                    print(f"    in-process: {fl['matches']} matches ({fl['final_status']}), find median "
                          f"{fl['find']['median_ms']:.2f} ms, p95 {fl['find']['p95_ms']:.2f} ms, first "
                          f"{fl['first']['median_ms']:.2f} ms, total {fl['total']['median_ms']:.2f} ms, "
                          f"n={fl['n']}", file=sys.stderr)
            entry["servers"][name] = res
        raw["shapes"].append(entry)
    # Peak RSS after the queries.
    with open(a.out, "w") as f:
        json.dump(raw, f, indent=1)


# ---------------------------------------------------------------- report

AIM_RATIO = 10.0
AIM_PATIENT_ID_MS = 10.0


def fmt_ms(v) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 1000 else f"{v:,.0f}"


def inproc(r: dict):
    """The bastion-findlat result of one server and shape, or None."""
    fl = r.get("inproc")
    return fl if fl and "find" in fl else None


def find_cell(r: dict) -> str:
    fl = inproc(r)
    if fl is None:
        return "-" if not r.get("inproc") else "error"
    return f"{fmt_ms(fl['find']['median_ms'])}/{fmt_ms(fl['find']['p95_ms'])}"


def find_ratio(b: dict, o: dict):
    fb, fo = inproc(b), inproc(o)
    if fb is None or fo is None or fb["find"]["median_ms"] <= 0:
        return None
    return fo["find"]["median_ms"] / fb["find"]["median_ms"]


def table(raw: dict) -> str:
    lines = []
    cat = raw["catalog"]
    lines.append(f"Catalog: {cat['studies']:,} studies, {cat['instances']:,} instances "
                 f"({cat['patients']:,} patients, 1..{cat['max_instances']} 8x8 instances per study, seed {cat['seed']})")
    lines.append(f"  held: {raw['counts']}")
    for name, f in raw["fill"].items():
        rate = f"{f['instances_per_s']:.0f} instances/s" if f["instances_per_s"] else "?"
        lines.append(f"  fill {name:8s} via {f['how'] or '?':15s}: {f['instances']:,} instances in "
                     f"{f['seconds']:,.0f} s = {rate}")
    hdr = ("shape", "query", "matches B/O", "B med", "B p95", "O med", "O p95", "O/B",
           "B net", "O net", "net O/B", "B find ms (med/p95)", "O find ms (med/p95)", "find O/B")
    rows = []
    e = raw["echo"]
    eb, eo = e["bastion"]["median_ms"], e["orthanc"]["median_ms"]
    rows.append(("echo (overhead)", "C-ECHO", "-",
                 fmt_ms(eb), fmt_ms(e["bastion"]["p95_ms"]),
                 fmt_ms(eo), fmt_ms(e["orthanc"]["p95_ms"]),
                 f"{eo / eb:.1f}x", "-", "-", "-", "-", "-", "-"))
    for s in raw["shapes"]:
        b, o = s["servers"]["bastion"], s["servers"]["orthanc"]
        bm = f"{b['matches']}" + ("*" if "A700" in b["final_status"].upper() or "resources" in b["final_status"].lower() else "")
        nb, no = net(b, eb), net(o, eo)
        fr = find_ratio(b, o)
        rows.append((s["shape"], s["match"], f"{bm}/{o['matches']}",
                     fmt_ms(b["median_ms"]), fmt_ms(b["p95_ms"]),
                     fmt_ms(o["median_ms"]), fmt_ms(o["p95_ms"]),
                     f"{o['median_ms'] / b['median_ms']:.1f}x",
                     fmt_ms(nb), fmt_ms(no), f"{no / nb:.1f}x" if nb > 0.5 else "-",
                     find_cell(b), find_cell(o), f"{fr:.1f}x" if fr is not None else "-"))
    widths = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    def line(r):
        return "  ".join(str(c).ljust(widths[i]) if i < 3 else str(c).rjust(widths[i]) for i, c in enumerate(r))
    lines.append("")
    lines.append(line(hdr))
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(line(r))
    lines.append("")
    lines.append("  med/p95/net: ms, wall clock of the whole findscu process (median, p95 nearest rank) over "
                 f"{raw['runs']} runs after {raw['warmup']} warm-ups (fewer where a shape hit the "
                 f"{raw['budget_s']} s budget: n below)")
    lines.append("  net = median minus the same server's C-ECHO median (findscu start-up, association, release)")
    lines.append("  find = in-process (bastion-findlat): C-FIND request sent -> final response received, no "
                 "process start-up, association or release; find O/B = ratio of the find medians")
    notes = []
    for s in raw["shapes"]:
        for name, r in s["servers"].items():
            if r["n"] < raw["runs"]:
                notes.append(f"{s['shape']}/{name} n={r['n']}")
            if r["final_status"] not in ("Success",):
                notes.append(f"{s['shape']}/{name} final status: {r['final_status']}")
            fl = r.get("inproc")
            if fl:
                if "error" in fl:
                    notes.append(f"{s['shape']}/{name} bastion-findlat failed: {fl['error']}")
                else:
                    if fl["n"] < raw["runs"]:
                        notes.append(f"{s['shape']}/{name} find n={fl['n']}")
                    if fl["matches"] != r["matches"] or not fl.get("consistent", True):
                        notes.append(f"{s['shape']}/{name} in-process matches {fl['matches']}"
                                     f"{'' if fl.get('consistent', True) else ' (varied)'} vs findscu {r['matches']}")
    if notes:
        lines.append("  " + "; ".join(notes))
    lines.append("  * = Bastion stopped at [query] max_matches with 0xA700; Orthanc's LimitFindResults is "
                 "0 (unlimited) unless --orthanc-limit was given")
    # Where the in-process time goes, per server: first response, the rest, association, release.
    if any(inproc(r) for s in raw["shapes"] for r in s["servers"].values()):
        lines.append("")
        lines.append("  in-process detail (medians, ms): first = request -> first response; "
                     "stream = find - first; assoc = connect + A-ASSOCIATE; total = assoc + find + release")
        dh = ("shape", "B first", "B stream", "B assoc", "B total", "O first", "O stream", "O assoc", "O total")
        drows = []
        for s in raw["shapes"]:
            row = [s["shape"]]
            for name in ("bastion", "orthanc"):
                fl = inproc(s["servers"][name])
                if fl is None:
                    row += ["-"] * 4
                else:
                    fm, fi = fl["find"]["median_ms"], fl["first"]["median_ms"]
                    row += [f"{fi:.2f}", f"{max(0.0, fm - fi):.2f}", f"{fl['assoc']['median_ms']:.2f}",
                            f"{fl['total']['median_ms']:.2f}"]
            drows.append(tuple(row))
        dw = [max(len(str(r[i])) for r in drows + [dh]) for i in range(len(dh))]
        for r in [dh] + drows:
            lines.append("  " + "  ".join(str(c).ljust(dw[i]) if i == 0 else str(c).rjust(dw[i])
                                          for i, c in enumerate(r)))
    return "\n".join(lines)


def net(r: dict, echo_median: float) -> float:
    return max(0.0, r["median_ms"] - echo_median)


def aims(raw: dict) -> list:
    """The issue's aims. The verdicts use the in-process C-FIND time where
    bastion-findlat ran; the findscu figures are kept beside them (info)."""
    out = []
    eb = raw["echo"]["bastion"]["median_ms"]
    for s in raw["shapes"]:
        b, o = s["servers"]["bastion"], s["servers"]["orthanc"]
        fb = inproc(b)
        if s["shape"] == "patient_id":
            if fb is not None:
                v = fb["find"]["median_ms"]
                out.append({"aim": f"exact PatientID find median < {AIM_PATIENT_ID_MS} ms", "basis": "in-process",
                            "size": raw["size"], "value_ms": round(v, 2), "met": v < AIM_PATIENT_ID_MS})
            out.append({"aim": f"exact PatientID findscu median < {AIM_PATIENT_ID_MS} ms", "basis": "findscu",
                        "info": fb is not None, "size": raw["size"],
                        "value_ms": b["median_ms"], "met": b["median_ms"] < AIM_PATIENT_ID_MS})
            out.append({"aim": f"same, net of C-ECHO < {AIM_PATIENT_ID_MS} ms", "basis": "findscu-net",
                        "info": fb is not None, "size": raw["size"],
                        "value_ms": round(net(b, eb), 2), "met": net(b, eb) < AIM_PATIENT_ID_MS})
        fr = find_ratio(b, o)
        if fr is not None:
            out.append({"aim": f"Orthanc/Bastion find >= {AIM_RATIO}x", "basis": "in-process", "shape": s["shape"],
                        "size": raw["size"], "ratio": round(fr, 2), "met": fr >= AIM_RATIO})
        out.append({"aim": f"Orthanc/Bastion findscu >= {AIM_RATIO}x", "basis": "findscu", "info": fr is not None,
                    "shape": s["shape"], "size": raw["size"],
                    "ratio": round(o["median_ms"] / b["median_ms"], 2),
                    "met": o["median_ms"] / b["median_ms"] >= AIM_RATIO})
    return out


def cmd_report(a) -> None:
    raws = []
    for p in a.raw:
        with open(p) as f:
            raws.append(json.load(f))
    print(f"# Bastion vs Orthanc: C-FIND latency, Study Root STUDY level ({a.started})")
    print(f"# {a.bastion_version} | {a.orthanc_version} | {a.dcmtk_version} | git {a.git}")
    print(f"# load average at start {a.load[0]}, at end {a.load[-1]}; Bastion filled by {a.bastion_fill}, "
          f"{a.assoc} associations; Orthanc LimitFindResults {a.orthanc_limit}")
    all_aims = []
    for raw in raws:
        print()
        print(f"## {raw['size']:,} studies")
        print(table(raw))
        all_aims += aims(raw)
    big = max(r["size"] for r in raws) if raws else 0
    print()
    print("Aims (issue 3): ratio >= 10x at 100k studies, exact PatientID median < 10 ms; judged on the "
          "in-process C-FIND time (bastion-findlat), findscu figures for information")
    for x in all_aims:
        if x["aim"].startswith("exact") or x["aim"].startswith("same") or x["size"] == big:
            what = x.get("shape", "")
            val = f"{x['value_ms']} ms" if "value_ms" in x else f"{x['ratio']}x"
            verdict = "met" if x["met"] else "NOT met"
            if x.get("info"):
                verdict = f"({'under' if x['met'] else 'over'}, info)" if "value_ms" in x else \
                          f"({'at or above' if x['met'] else 'below'}, info)"
            print(f"  {x['size']:>7,} {what:14s} {x['aim']:42s} {val:>10s}  {verdict}")
    out = {
        "benchmark": "query",
        "started": a.started,
        "args": a.args,
        "git": a.git,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release(),
                 "load_start": a.load[0], "load_end": a.load[-1]},
        "versions": {"bastion": a.bastion_version, "orthanc": a.orthanc_version, "dcmtk": a.dcmtk_version},
        "method": {
            "bastion_fill": a.bastion_fill, "associations": a.assoc, "orthanc_limit_find_results": a.orthanc_limit,
            "timing": "wall clock of each findscu/echoscu process (fork to exit), TCP_NODELAY=1 in the client; "
                      "untimed warm-ups first; one extra untimed -v run per shape counts the matches",
            "timing_inproc": "bastion-findlat, one process per shape and server, a new association per run: "
                             "find = C-FIND request sent -> final response (std::chrono::steady_clock), "
                             "first = -> first response, assoc, release, total; TCP_NODELAY on; same keys; "
                             "aims are judged on the find medians",
            "query": "findscu -S, QueryRetrieveLevel=STUDY, the same return keys for every shape",
        },
        "aims": all_aims,
        "sizes": raws,
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--size", type=int, required=True)
    m.add_argument("--shapes", required=True)
    m.add_argument("--return-keys", required=True)
    m.add_argument("--server", action="append", required=True, help="NAME:AET:PORT")
    m.add_argument("--runs", type=int, default=30)
    m.add_argument("--warmup", type=int, default=3)
    m.add_argument("--budget", type=float, default=120)
    m.add_argument("--out", required=True)
    m.add_argument("--set", required=True)
    m.add_argument("--fill", action="append", default=[], help="NAME:DIR")
    m.add_argument("--counts", default="")
    m.add_argument("--findlat", default="", help="bastion-findlat binary (in-process timings)")
    m.add_argument("--bastion-rss", default="")
    m.add_argument("--orthanc-rss", default="")
    r = sub.add_parser("report")
    r.add_argument("--raw", action="append", default=[])
    r.add_argument("--out", required=True)
    r.add_argument("--started", default="")
    r.add_argument("--load", action="append", default=[])
    r.add_argument("--args", default="")
    r.add_argument("--bastion-fill", default="")
    r.add_argument("--assoc", default="")
    r.add_argument("--orthanc-limit", default="0")
    r.add_argument("--orthanc-version", default="")
    r.add_argument("--bastion-version", default="")
    r.add_argument("--dcmtk-version", default="")
    r.add_argument("--git", default="")
    a = ap.parse_args()
    if a.cmd == "measure":
        cmd_measure(a)
    else:
        if not a.load:
            a.load = ["?"]
        cmd_report(a)


if __name__ == "__main__":
    main()
