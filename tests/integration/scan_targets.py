"""Real, insecure servers for `bastion scan`'s integration tests.

Orthanc 1.10 and DCMTK's dcmqrscp/storescp cannot bind to loopback only, so
every server here runs inside a private network namespace (`unshare -n`, only
`lo` up) that this module creates; the scanner runs inside the same
namespace (`nsenter -n`). Nothing can reach or leave the machine.

Readiness is waited for on events (a log line, an answered C-ECHO), always
with a bound; never with a fixed sleep.
"""

import json
import os
import re
import shutil
import subprocess
import threading
import time

import harness as h

ORTHANC_BIN = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
ORTHANC_ETC = "/etc/orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def netns_available():
    return h.namespace_available("-n")


class NetNs:
    """A private network namespace held open by a `cat` that exits when we close its stdin."""

    def __init__(self, transcript):
        self.transcript = transcript
        self.holder = subprocess.Popen(["unshare", "-n", "sh", "-c", "ip link set lo up && echo up && exec cat"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.holder.stdout.readline().decode().strip()
        if line != "up":
            raise AssertionError(f"could not create a network namespace: {line}")
        self.pid = self.holder.pid
        self.procs = []

    def cmd(self, args):
        return ["nsenter", "-t", str(self.pid), "-n", *map(str, args)]

    def run(self, args, timeout=h.TOOL_TIMEOUT, env=None):
        return h.run(self.cmd(args), timeout=timeout, env=env or h.TOOL_ENV, transcript=self.transcript)

    def spawn(self, args, log_path, cwd=None):
        out = open(log_path, "wb")
        try:
            p = subprocess.Popen(self.cmd(args), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=h.TOOL_ENV, cwd=cwd)
        finally:
            out.close()
        self.procs.append(p)
        self.transcript.add(f"$ {' '.join(map(str, args))} &  (in netns {self.pid}, log {log_path})", "")
        return p

    def wait_echo(self, port, aec, proc, timeout=30.0):
        """Until a C-ECHO on port is answered (any answer means the server is up)."""
        def up():
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode} before answering on {port}")
            p = h.run(self.cmd(["echoscu", "-to", "2", "-ta", "2", "-aec", aec, h.LOOPBACK, port]), timeout=20,
                      env=h.TOOL_ENV)
            return "Connection refused" not in p.out
        h.wait_for(up, timeout, what=f"DICOM on port {port}")

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.holder.stdin.close()
        self.holder.wait(timeout=10)
        self.holder.stdout.close()


def scan(ns, args, transcript=None, timeout=240):
    """Runs `bastion scan ... --format json` inside the namespace: (rc, report dict, process)."""
    p = ns.run([h.BASTION_BIN, "scan", *args, "--format", "json"], timeout=timeout)
    try:
        report = json.loads(p.stdout)
    except ValueError:
        raise AssertionError(f"scan did not print JSON (rc={p.returncode}):\n{p.out[-4000:]}")
    return p.returncode, report, p


def findings(report, fid=None, min_severity=None, target=None):
    order = ["info", "low", "medium", "high", "critical"]
    out = []
    for f in report["findings"]:
        if fid is not None and f["id"] != fid:
            continue
        if target is not None and f["target"] != target:
            continue
        if min_severity is not None and order.index(f["severity"]) < order.index(min_severity):
            continue
        out.append(f)
    return out


def above_info(report):
    return [f for f in report["findings"] if f["severity"] != "info"]


def sample_files():
    """A few real files from pydicom's test set: CT, MR, and an RT plan."""
    names = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm"]
    return [os.path.join(h.PYDICOM_TEST_FILES, n) for n in names]


# ---------------------------------------------------------------- Orthanc


def strip_json_comments(text):
    """Orthanc's configuration is JSON with /* */ and // comments."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("/*", i):
            i = text.index("*/", i + 2) + 2
        elif text.startswith("//", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
        else:
            out.append(c)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def orthanc_config(workdir, overrides, dicomweb=True):
    """Debian's packaged configuration (/etc/orthanc), with only storage paths,
    plugins and the given overrides changed. Returns the config directory."""
    cfg_dir = os.path.join(workdir, "orthanc-etc")
    storage = os.path.join(workdir, "orthanc-db")
    os.makedirs(cfg_dir, exist_ok=True)
    os.makedirs(storage, exist_ok=True)
    with open(os.path.join(ORTHANC_ETC, "orthanc.json")) as f:
        config = json.loads(strip_json_comments(f.read()))
    config["StorageDirectory"] = storage
    config["IndexDirectory"] = storage
    # The packaged file loads every plugin in the folder; the worklist and
    # serve-folders plugins would need folders of their own. DICOMweb is the one we scan.
    config["Plugins"] = [DICOMWEB_PLUGIN] if dicomweb else []
    config.update(overrides)
    with open(os.path.join(cfg_dir, "orthanc.json"), "w") as f:
        json.dump(config, f, indent=2)
    if dicomweb:
        with open(os.path.join(ORTHANC_ETC, "dicomweb.json")) as f:
            web = json.loads(strip_json_comments(f.read()))
        with open(os.path.join(cfg_dir, "dicomweb.json"), "w") as f:
            json.dump(web, f, indent=2)
    if "RegisteredUsers" not in overrides:
        with open(os.path.join(ORTHANC_ETC, "credentials.json")) as f:
            creds = json.loads(strip_json_comments(f.read()))
        with open(os.path.join(cfg_dir, "credentials.json"), "w") as f:
            json.dump(creds, f, indent=2)
    return cfg_dir


def start_orthanc(ns, workdir, overrides, dicomweb=True, timeout=60.0):
    cfg_dir = orthanc_config(workdir, overrides, dicomweb)
    log = os.path.join(workdir, "orthanc.log")
    proc = ns.spawn([ORTHANC_BIN, "--verbose", cfg_dir], log)
    # Orthanc says when both servers listen.
    def started():
        if proc.poll() is not None:
            raise AssertionError(f"Orthanc exited with {proc.returncode}:\n{open(log, errors='replace').read()[-4000:]}")
        with open(log, errors="replace") as f:
            return "Orthanc has started" in f.read()
    h.wait_for(started, timeout, what="'Orthanc has started' in its log")
    return proc, log


def orthanc_instances(ns, port=8042, user=None):
    """How many instances Orthanc holds (GET /statistics through curl inside the namespace)."""
    args = ["curl", "-s", "--max-time", "10"]
    if user:
        args += ["-u", user]
    p = ns.run(args + [f"http://127.0.0.1:{port}/statistics"], timeout=30)
    try:
        return json.loads(p.stdout)["CountInstances"]
    except (ValueError, KeyError):
        raise AssertionError(f"/statistics did not answer: {p.out[-2000:]}")


# ---------------------------------------------------------------- DCMTK


def start_dcmqrscp(ns, workdir, port, move_port, ae="DCMQRSCP"):
    """dcmqrscp with a permissive configuration: any calling AE (peer list ANY)
    and unrestricted move destinations; the scanner's C-MOVE SCP is in its host table."""
    db = os.path.join(workdir, "dcmqrscp-db")
    os.makedirs(db, exist_ok=True)
    cfg = os.path.join(workdir, "dcmqrscp.cfg")
    with open(cfg, "w") as f:
        f.write(f"""NetworkTCPPort  = {port}
MaxPDUSize      = 16384
MaxAssociations = 16
HostTable BEGIN
scanner = (BASTIONSCAN, 127.0.0.1, {move_port})
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
{ae}  {db}  RW  (200, 1024mb)  ANY
AETable END
""")
    proc = ns.spawn(["dcmqrscp", "--move-unrestricted", "-c", cfg], os.path.join(workdir, "dcmqrscp.log"))
    ns.wait_echo(port, ae, proc)
    return proc


def start_storescp(ns, workdir, port, ae="STORESCP"):
    out = os.path.join(workdir, "storescp-out")
    os.makedirs(out, exist_ok=True)
    proc = ns.spawn(["storescp", "-aet", ae, "-od", out, port], os.path.join(workdir, "storescp.log"))
    ns.wait_echo(port, ae, proc)
    return proc, out


def store(ns, port, aec, files, aet="LOADER"):
    p = ns.run(["storescu", "-aet", aet, "-aec", aec, "-to", "10", h.LOOPBACK, port, *files])
    if p.returncode != 0:
        raise AssertionError(f"loading samples into {aec} failed:\n{p.out[-3000:]}")
    return p
