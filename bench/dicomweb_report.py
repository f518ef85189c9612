#!/usr/bin/env python3
"""DICOMweb timings for bench/dicomweb.sh, and the report made of them.

  dicomweb_report.py qido ...     QIDO-RS study searches against running
                                  servers; one raw JSON per catalog size
  dicomweb_report.py wado ...     WADO-RS retrievals (study, instance, frames,
                                  series metadata) of one stored set
  dicomweb_report.py report ...   the raw JSON files -> tables on stdout and
                                  bench/results/dicomweb-<time>.json

Every request goes over one persistent (keep-alive) connection per server,
opened before the timed runs (http.client, TCP_NODELAY on). A request's time
is time.perf_counter() from just before the request line is written to just
after the last byte of the body is read (the body is read into a reused
buffer, not parsed; checks happen outside the timed window). If a server
closed the connection in between, the reconnect happens before the clock
starts and is counted ("reconnects"). Runs of the servers are interleaved
(run i of every server, then run i+1) so that background load hits all of
them alike. Only 127.0.0.0/8 is ever contacted. Standard library only.
"""
import argparse
import http.client
import json
import os
import platform
import re
import socket
import ssl
import statistics
import sys
import time

BUF = bytearray(1 << 20)


# ---------------------------------------------------------------- client

class Server:
    """One server: base URL (http or https on 127.0.0.0/8), auth header."""

    def __init__(self, spec: dict):
        self.name = spec["name"]
        self.scheme = spec["scheme"]
        self.host = spec["host"]
        self.port = int(spec["port"])
        self.root = spec["root"].rstrip("/")
        self.auth = spec.get("auth", "")
        self.cafile = spec.get("cafile", "")
        self.label = spec.get("label", self.name)
        if not self.host.startswith("127."):
            raise SystemExit(f"dicomweb_report: refusing non-loopback host {self.host}")
        self.conn = None
        self.connects = 0

    def connect(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.cafile)
            # Bastion's certificate from `bastion init` names the host, not
            # 127.0.0.1; the chain is still verified against its CA.
            ctx.check_hostname = False
            self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=900, context=ctx)
        else:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=900)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connects += 1

    def headers(self, accept: str) -> dict:
        h = {"Accept": accept}
        if self.auth:
            h["Authorization"] = self.auth
        return h

    def get(self, path: str, accept: str, keep: bool = False) -> dict:
        """One timed GET. keep: return the body too (for checks)."""
        for attempt in (0, 1):
            if self.conn is None or self.conn.sock is None:
                self.connect()
            body = bytearray() if keep else None
            n = 0
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", self.root + path, headers=self.headers(accept))
                resp = self.conn.getresponse()
                view = memoryview(BUF)
                while True:
                    k = resp.readinto(view)
                    if not k:
                        break
                    n += k
                    if keep:
                        body += view[:k]
                t1 = time.perf_counter()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.BadStatusLine) as e:
                # A keep-alive connection the server closed while we were idle:
                # reconnect (untimed) and send the request once more.
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise SystemExit(f"dicomweb_report: {self.name}: {path}: {e!r}")
                continue
            if resp.will_close:
                self.conn.close()
                self.conn = None
            return {"seconds": t1 - t0, "status": resp.status, "bytes": n,
                    "type": resp.getheader("Content-Type", ""), "body": body,
                    "headers": dict(resp.getheaders()) if keep else None}
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def load_servers(path: str) -> list:
    with open(path) as f:
        return [Server(s) for s in json.load(f)]


def stats(times: list) -> dict:
    if not times:
        return {"n": 0}
    s = sorted(times)
    n = len(s)

    def pct(p):
        # nearest rank
        k = max(0, min(n - 1, int(round(p / 100.0 * n + 0.5)) - 1))
        return s[k]

    return {"n": n, "median": statistics.median(s), "p95": pct(95), "min": s[0], "max": s[-1],
            "mean": statistics.fmean(s)}


def interleaved(servers: list, request, runs: int, warmup: int, budget: float, label: str) -> dict:
    """request(server, i) -> result dict. Warm-up runs first, then timed
    runs of every server in turn; a server stops once its timed runs took
    `budget` seconds in total (after at least 3)."""
    out = {s.name: {"runs": [], "warmup": [], "stopped_by_budget": False} for s in servers}
    for s in servers:
        for i in range(warmup):
            r = request(s, -1 - i)
            out[s.name]["warmup"].append({k: v for k, v in r.items() if k not in ("body", "headers")})
    spent = {s.name: 0.0 for s in servers}
    for i in range(runs):
        active = [s for s in servers if not (len(out[s.name]["runs"]) >= 3 and spent[s.name] >= budget)]
        for s in servers:
            if s not in active and not out[s.name]["stopped_by_budget"] and len(out[s.name]["runs"]) < runs:
                out[s.name]["stopped_by_budget"] = True
        if not active:
            break
        for s in active:
            r = request(s, i)
            spent[s.name] += r["seconds"]
            out[s.name]["runs"].append({k: v for k, v in r.items() if k not in ("body", "headers")})
    for s in servers:
        times = [r["seconds"] for r in out[s.name]["runs"] if r["status"] == 200]
        out[s.name]["stats"] = stats(times)
        out[s.name]["errors"] = sum(1 for r in out[s.name]["runs"] if r["status"] != 200)
        print(f"  {label:<22} {s.name:<14} n={len(times):3d} median {fmt_ms(out[s.name]['stats'].get('median'))}"
              f"  p95 {fmt_ms(out[s.name]['stats'].get('p95'))}", file=sys.stderr, flush=True)
    return out


def fmt_ms(v) -> str:
    if v is None:
        return "—"
    ms = v * 1000.0
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 100:
        return f"{ms:.1f} ms"
    return f"{ms:,.0f} ms"


# ---------------------------------------------------------------- QIDO

def qido_check(s: Server, path: str) -> dict:
    r = s.get(path, "application/dicom+json", keep=True)
    out = {"status": r["status"], "bytes": r["bytes"], "type": r["type"], "seconds": r["seconds"]}
    if r["status"] == 200:
        try:
            doc = json.loads(bytes(r["body"]) or b"[]")
            out["matches"] = len(doc)
            tags = set()
            for item in doc:
                tags.update(item.keys())
            out["tags"] = sorted(tags)
            out["first_study"] = (doc[0].get("0020000D", {}).get("Value") or [None])[0] if doc else None
        except ValueError as e:
            out["error"] = f"not JSON: {e}"
    elif r["status"] == 204:
        out["matches"] = 0
    else:
        out["error"] = bytes(r["body"][:300]).decode("utf-8", "replace")
    warning = (r["headers"] or {}).get("Warning")
    if warning:
        out["warning"] = warning
    return out


def cmd_qido(a) -> None:
    servers = load_servers(a.servers)
    shapes = []
    with open(a.shapes) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                name, query = line.split("\t", 1)
                shapes.append((name, query))
    for s in servers:
        s.connect()
    result = {"kind": "qido", "size": a.size, "common": a.common, "count_common": a.count_common,
              "servers": [{"name": s.name, "label": s.label} for s in servers], "shapes": [],
              "info": json.loads(a.info) if a.info else {}}
    for name, query in shapes:
        path = "/studies?" + (query + "&" if query else "") + a.common
        count_path = "/studies?" + (query + "&" if query else "") + a.count_common
        print(f"[qido {a.size}] {name}: {path}", file=sys.stderr, flush=True)
        # Matches with a large limit (both servers' answers compared), then the
        # timed runs with the viewer's limit.
        counts = {s.name: qido_check(s, count_path) for s in servers}
        checks = {s.name: qido_check(s, path) for s in servers}
        for s in servers:
            c, k = counts[s.name], checks[s.name]
            print(f"  {s.name:<14} matches {c.get('matches', c.get('error'))} (limit), "
                  f"{k.get('matches', k.get('error'))} with the timed query", file=sys.stderr, flush=True)
        runs = interleaved(servers, lambda s, i: s.get(path, "application/dicom+json"),
                           a.runs, a.warmup, a.budget, name)
        result["shapes"].append({"name": name, "query": query, "path": path, "count_path": count_path,
                                 "counts": counts, "checks": checks, "runs": runs})
    result["connects"] = {s.name: s.connects for s in servers}
    for s in servers:
        s.close()
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


# ---------------------------------------------------------------- WADO

ACCEPT_DICOM = 'multipart/related; type="application/dicom"'
ACCEPT_FRAMES = 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'
ACCEPT_JSON = "application/dicom+json"


def multipart_parts(content_type: str, body: bytes) -> list:
    """Sizes and content types of the parts of a multipart/related body."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        return []
    delim = b"--" + m.group(1).encode()
    parts = []
    chunks = body.split(delim)
    for c in chunks[1:]:
        if c.startswith(b"--"):
            break
        head, _, data = c.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        ctype = ""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-type:"):
                ctype = line.split(b":", 1)[1].strip().decode("latin-1")
        parts.append({"bytes": len(data), "type": ctype,
                      "dicm": data[128:132] == b"DICM" if len(data) > 132 else False})
    return parts


def uid_of(item: dict, tag: str):
    v = item.get(tag, {}).get("Value")
    return v[0] if v else None


def discover(s: Server) -> list:
    """Studies, their series and instances, from the server's own QIDO."""
    r = s.get("/studies?limit=1000", ACCEPT_JSON, keep=True)
    if r["status"] != 200:
        raise SystemExit(f"dicomweb_report: {s.name}: /studies answered {r['status']}")
    studies = []
    for st in sorted(uid_of(i, "0020000D") for i in json.loads(bytes(r["body"]))):
        rs = s.get(f"/studies/{st}/series", ACCEPT_JSON, keep=True)
        series = []
        for se in sorted(uid_of(i, "0020000E") for i in json.loads(bytes(rs["body"]))):
            ri = s.get(f"/studies/{st}/series/{se}/instances?limit=1000", ACCEPT_JSON, keep=True)
            items = json.loads(bytes(ri["body"]))
            inst = sorted(((i.get("00200013", {}).get("Value") or [0])[0], uid_of(i, "00080018")) for i in items)
            series.append({"uid": se, "instances": [u for _, u in inst]})
        studies.append({"uid": st, "series": series})
    return studies


def part_check(r: dict) -> dict:
    parts = multipart_parts(r["type"], bytes(r["body"])) if r["status"] == 200 else []
    return {"status": r["status"], "bytes": r["bytes"], "type": r["type"], "parts": len(parts),
            "part_bytes": sum(p["bytes"] for p in parts), "part_types": sorted({p["type"] for p in parts}),
            "all_dicm": all(p["dicm"] for p in parts) if parts else None}


def cmd_wado(a) -> None:
    servers = load_servers(a.servers)
    for s in servers:
        s.connect()
    plans = {s.name: discover(s) for s in servers}
    ref = plans[servers[0].name]
    same = all(p == ref for p in plans.values())
    print(f"[wado] {len(ref)} studies, {sum(len(x['series']) for x in ref)} series, "
          f"{sum(len(se['instances']) for x in ref for se in x['series'])} instances; "
          f"same on every server: {same}", file=sys.stderr, flush=True)
    result = {"kind": "wado", "servers": [{"name": s.name, "label": s.label} for s in servers],
              "same_content": same, "plan": ref, "tests": [],
              "accept": {"study": ACCEPT_DICOM, "instance": ACCEPT_DICOM, "frames": ACCEPT_FRAMES,
                         "metadata": ACCEPT_JSON},
              "info": json.loads(a.info) if a.info else {}}
    studies = [x["uid"] for x in ref]
    series = [(x["uid"], se["uid"]) for x in ref for se in x["series"]]
    instances = [(x["uid"], se["uid"], i) for x in ref for se in x["series"] for i in se["instances"]]
    # One series' images in order, as a viewer scrolling a stack fetches them.
    stack = [(ref[0]["uid"], ref[0]["series"][0]["uid"], i) for i in ref[0]["series"][0]["instances"]]

    tests = [
        ("study", "whole study, multipart/related application/dicom", ACCEPT_DICOM,
         lambda i: f"/studies/{studies[i % len(studies)]}", a.study_runs),
        ("instance", "one instance, multipart/related application/dicom", ACCEPT_DICOM,
         lambda i: "/studies/{}/series/{}/instances/{}".format(*instances[i % len(instances)]), a.item_runs),
        ("frames", "frame 1 of one instance, octet-stream (Explicit VR LE)", ACCEPT_FRAMES,
         lambda i: "/studies/{}/series/{}/instances/{}/frames/1".format(*stack[i % len(stack)]), a.item_runs),
        ("series_metadata", "series metadata, application/dicom+json", ACCEPT_JSON,
         lambda i: "/studies/{}/series/{}/metadata".format(*series[i % len(series)]), a.meta_runs),
    ]
    for name, what, accept, path_of, runs in tests:
        print(f"[wado] {name}: {what}", file=sys.stderr, flush=True)
        checks = {}
        for s in servers:
            r = s.get(path_of(0), accept, keep=True)
            checks[s.name] = part_check(r) if accept != ACCEPT_JSON else {
                "status": r["status"], "bytes": r["bytes"], "type": r["type"],
                "items": len(json.loads(bytes(r["body"]))) if r["status"] == 200 else None}
            print(f"  check {s.name:<14} {checks[s.name]}", file=sys.stderr, flush=True)
        res = interleaved(servers, lambda s, i: s.get(path_of(i if i >= 0 else 0), accept),
                          runs, a.warmup, a.budget, name)
        for s in servers:
            rr = [r for r in res[s.name]["runs"] if r["status"] == 200]
            tot_b = sum(r["bytes"] for r in rr)
            tot_t = sum(r["seconds"] for r in rr)
            res[s.name]["mb_per_s"] = (tot_b / 1e6 / tot_t) if tot_t else None
            res[s.name]["bytes_per_run"] = (tot_b / len(rr)) if rr else None
            print(f"  {name:<22} {s.name:<14} {res[s.name]['mb_per_s'] or 0:8.1f} MB/s", file=sys.stderr, flush=True)
        result["tests"].append({"name": name, "what": what, "accept": accept, "checks": checks, "runs": res})
    result["connects"] = {s.name: s.connects for s in servers}
    for s in servers:
        s.close()
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


# ---------------------------------------------------------------- report

def ratio(a, b):
    if not a or not b:
        return None
    return a / b


def fmt_ratio(v) -> str:
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}×"
    if v >= 10:
        return f"{v:.1f}×"
    return f"{v:.2f}×"


def md_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def qido_table(raw: dict) -> str:
    names = [s["name"] for s in raw["servers"]]
    base = "bastion-http" if "bastion-http" in names else names[0]
    orth = "orthanc" if "orthanc" in names else names[-1]
    lines = [f"QIDO-RS /studies, {raw['size']:,} studies"
             + (f" ({raw['info'].get('instances'):,} instances)" if raw.get("info", {}).get("instances") else "")
             + f"; every query + {raw['common']}", ""]
    head = ["shape", "matches " + "/".join(names)]
    for n in names:
        head.append(f"{n} median / p95")
    head += [f"ratio {orth}/{base}"]
    if "bastion-https" in names:
        head.append(f"ratio {orth}/bastion-https")
    lines.append(md_row(head))
    lines.append(md_row(["---"] * len(head)))
    for sh in raw["shapes"]:
        counts = []
        for n in names:
            c = sh["counts"][n].get("matches")
            k = sh["checks"][n].get("matches")
            counts.append(f"{c if c is not None else 'ERR'}({k if k is not None else 'ERR'})")
        row = [sh["name"], " / ".join(counts)]
        for n in names:
            st = sh["runs"][n]["stats"]
            row.append(f"{fmt_ms(st.get('median'))} / {fmt_ms(st.get('p95'))}"
                       + ("" if not sh["runs"][n]["errors"] else f" ({sh['runs'][n]['errors']} errors)"))
        om = sh["runs"][orth]["stats"].get("median")
        row.append(fmt_ratio(ratio(om, sh["runs"][base]["stats"].get("median"))))
        if "bastion-https" in names:
            row.append(fmt_ratio(ratio(om, sh["runs"]["bastion-https"]["stats"].get("median"))))
        lines.append(md_row(row))
    mism = [sh["name"] for sh in raw["shapes"]
            if len({sh["counts"][n].get("matches") for n in names}) != 1]
    lines.append("")
    lines.append("matches: with limit from --count-common (timed query's in brackets)."
                 + (f" DIFFERENT between servers: {', '.join(mism)}" if mism else " Same on every server."))
    return "\n".join(lines)


def wado_table(raw: dict) -> str:
    names = [s["name"] for s in raw["servers"]]
    base = "bastion-http" if "bastion-http" in names else names[0]
    orth = "orthanc" if "orthanc" in names else names[-1]
    plan = raw["plan"]
    n_inst = sum(len(se["instances"]) for x in plan for se in x["series"])
    lines = [f"WADO-RS, {len(plan)} studies, {n_inst} instances (same on every server: {raw['same_content']})", ""]
    head = ["request", "bytes/request"]
    for n in names:
        head.append(f"{n} MB/s (median / p95 per request)")
    head.append(f"ratio {base}/{orth} MB/s")
    if "bastion-https" in names:
        head.append(f"ratio bastion-https/{orth}")
    lines.append(md_row(head))
    lines.append(md_row(["---"] * len(head)))
    for t in raw["tests"]:
        row = [t["name"], f"{(t['runs'][base].get('bytes_per_run') or 0):,.0f}"]
        for n in names:
            r = t["runs"][n]
            st = r["stats"]
            row.append(f"{(r.get('mb_per_s') or 0):,.1f} ({fmt_ms(st.get('median'))} / {fmt_ms(st.get('p95'))})")
        row.append(fmt_ratio(ratio(t["runs"][base].get("mb_per_s"), t["runs"][orth].get("mb_per_s"))))
        if "bastion-https" in names:
            row.append(fmt_ratio(ratio(t["runs"]["bastion-https"].get("mb_per_s"), t["runs"][orth].get("mb_per_s"))))
        lines.append(md_row(row))
    lines.append("")
    for t in raw["tests"]:
        lines.append(f"{t['name']}: Accept: {t['accept']}; first answer: "
                     + "; ".join(f"{n}: {json.dumps({k: v for k, v in t['checks'][n].items() if k != 'type'})}"
                                 for n in names))
    return "\n".join(lines)


def cmd_report(a) -> None:
    raws = []
    for p in a.raw:
        with open(p) as f:
            raws.append(json.load(f))
    out = {"bench": "dicomweb", "started": a.started, "load": a.load, "args": a.args,
           "versions": {"bastion": a.bastion_version, "orthanc": a.orthanc_version,
                        "orthanc_dicomweb": a.dicomweb_version, "python": platform.python_version()},
           "git": a.git, "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
           "orthanc_config": a.orthanc_config, "results": raws}
    print(f"\nDICOMweb bench — started {a.started}, load average {' → '.join(a.load)}, "
          f"{os.cpu_count()} CPUs; git {a.git}")
    print(f"bastion: {a.bastion_version}; orthanc: {a.orthanc_version}; dicomweb plugin: {a.dicomweb_version}\n")
    aims = []
    for r in raws:
        if r["kind"] == "qido":
            print(qido_table(r) + "\n")
            names = [s["name"] for s in r["servers"]]
            if "bastion-http" in names and "orthanc" in names:
                for sh in r["shapes"]:
                    b = sh["runs"]["bastion-http"]["stats"].get("median")
                    o = sh["runs"]["orthanc"]["stats"].get("median")
                    aims.append({"size": r["size"], "shape": sh["name"], "bastion_median_ms": b and b * 1000,
                                 "orthanc_median_ms": o and o * 1000, "under_10ms": bool(b is not None and b < 0.010),
                                 "ratio": ratio(o, b), "at_least_5x": bool(ratio(o, b) and ratio(o, b) >= 5)})
        else:
            print(wado_table(r) + "\n")
    if aims:
        print("Aims (issue 4): QIDO median < 10 ms at 100k studies and >= 5x Orthanc (bastion-http vs orthanc):")
        for x in aims:
            print(f"  {x['size']:>7,} {x['shape']:<16} Bastion {x['bastion_median_ms'] or 0:8.2f} ms "
                  f"{'<10ms' if x['under_10ms'] else 'NOT <10ms'}   ratio {fmt_ratio(x['ratio'])} "
                  f"{'>=5x' if x['at_least_5x'] else 'NOT >=5x'}")
    out["aims"] = aims
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("qido")
    q.add_argument("--servers", required=True, help="JSON list of servers")
    q.add_argument("--shapes", required=True, help="TSV: name<TAB>query string")
    q.add_argument("--common", default="limit=101&offset=0&fuzzymatching=false&includefield=00081030,00080060")
    q.add_argument("--count-common", default="limit=1000")
    q.add_argument("--size", type=int, required=True)
    q.add_argument("--runs", type=int, default=50)
    q.add_argument("--warmup", type=int, default=3)
    q.add_argument("--budget", type=float, default=60)
    q.add_argument("--info", default="")
    q.add_argument("--out", required=True)
    w = sub.add_parser("wado")
    w.add_argument("--servers", required=True)
    w.add_argument("--study-runs", type=int, default=15)
    w.add_argument("--item-runs", type=int, default=200)
    w.add_argument("--meta-runs", type=int, default=30)
    w.add_argument("--warmup", type=int, default=2)
    w.add_argument("--budget", type=float, default=60)
    w.add_argument("--info", default="")
    w.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--raw", action="append", default=[])
    r.add_argument("--out", required=True)
    r.add_argument("--started", default="")
    r.add_argument("--load", action="append", default=[])
    r.add_argument("--args", default="")
    r.add_argument("--bastion-version", default="")
    r.add_argument("--orthanc-version", default="")
    r.add_argument("--dicomweb-version", default="")
    r.add_argument("--orthanc-config", default="")
    r.add_argument("--git", default="")
    a = p.parse_args()
    {"qido": cmd_qido, "wado": cmd_wado, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
