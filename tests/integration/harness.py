"""Integration-test harness for Bastion.

Starts `bastion` (BASTION_BIN) against a fresh data directory in a temporary
directory, drives it with DCMTK's real tools (echoscu, storescu, findscu) and
with a tiny raw DICOM upper-layer client (MiniSCU) for the cases the DCMTK
tools refuse to produce (truncated datasets, datasets without UIDs, raw
A-ASSOCIATE-RJ fields).

Only the Python standard library and pydicom are used. Everything talks to
127.0.0.1 only; nothing is synchronised with sleeps: we wait for a line on a
pipe, a process exit or a condition, always with a bound.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings

import pydicom
from pydicom.filereader import read_file_meta_info

warnings.simplefilter("ignore")  # pydicom is chatty about odd sample files

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

BASTION_BIN = os.environ.get("BASTION_BIN") or os.path.join(REPO, "build", "src", "cli", "bastion")
SYNTH_BIN = os.environ.get("BASTION_SYNTH_BIN") or os.path.join(REPO, "build", "tools", "bastion-synth")

PYDICOM_TEST_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
TOOL_TIMEOUT = 120.0

# Environment for the DCMTK tools: without TCP_NODELAY Debian's DCMTK waits
# ~40 ms on delayed ACKs for every DIMSE exchange.
TOOL_ENV = dict(os.environ, TCP_NODELAY="1")

UID_VERIFICATION = "1.2.840.10008.1.1"
TS_IMPLICIT_LE = "1.2.840.10008.1.2"
TS_EXPLICIT_LE = "1.2.840.10008.1.2.1"
TS_DEFLATED = "1.2.840.10008.1.2.1.99"
TS_EXPLICIT_BE = "1.2.840.10008.1.2.2"
UNCOMPRESSED_TS = [TS_EXPLICIT_LE, TS_IMPLICIT_LE, TS_EXPLICIT_BE]

# DCMTK's wording of A-ASSOCIATE-RJ reasons (ASC_printRejectParameters).
REASON_CALLED_AE = "Called AE Title Not Recognized"     # source 1, reason 7
REASON_CALLING_AE = "Calling AE Title Not Recognized"   # source 1, reason 3


def require_binaries(*need_synth):
    """Fail loudly (never skip: a skipped suite would look green) when the
    binaries under test are missing."""
    if not (os.path.isfile(BASTION_BIN) and os.access(BASTION_BIN, os.X_OK)):
        raise RuntimeError(f"bastion binary not found at {BASTION_BIN} (set BASTION_BIN)")
    if need_synth and not (os.path.isfile(SYNTH_BIN) and os.access(SYNTH_BIN, os.X_OK)):
        raise RuntimeError(f"bastion-synth not found at {SYNTH_BIN} (set BASTION_SYNTH_BIN)")


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port(exclude=()):
    """A TCP port on 127.0.0.1 that was free a moment ago, chosen below the
    kernel's ephemeral range: a port from that range can be handed to another
    test's outgoing connection before our server binds it (seen in CI)."""
    low, _high = _ephemeral_range()
    top = max(low - 1, 2048)
    bottom = max(1024, top - 12000)
    for _ in range(200):
        port = random.randint(bottom, top)
        if port in exclude or port in _handed_out:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            continue
        finally:
            s.close()
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port")


_handed_out = set()  # within this test process, never the same port twice


def namespace_available(flag):
    """Whether tests may make a private namespace of their own (`unshare -n`:
    network, `-m`: mounts): root, with util-linux's unshare and nsenter."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    p = subprocess.run(["unshare", flag, "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.returncode == 0


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    """Poll predicate() until it returns a truthy value (bounded). Returns it."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.5)


def port_open(port, host=LOOPBACK):
    """Whether something accepts TCP connections on host:port now."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_port(port, timeout=10.0, host=LOOPBACK):
    return wait_for(lambda: port_open(port, host), timeout, what=f"port {host}:{port}")


# ----------------------------------------------------------------------------
# DICOM file helpers


def dataset_offset(path_or_bytes):
    """Offset of the dataset after the Part 10 preamble and meta group.

    Uses (0002,0000) group length when present (132 + 12 + value); walks the
    explicit VR LE meta elements otherwise.
    """
    data = path_or_bytes
    if isinstance(path_or_bytes, str):
        with open(path_or_bytes, "rb") as f:
            data = f.read(65536)
    if data[128:132] != b"DICM":
        return 0  # no meta (a bare dataset)
    pos = 132
    group, elem = struct.unpack_from("<HH", data, pos)
    vr = data[pos + 4:pos + 6]
    if (group, elem) == (2, 0) and vr == b"UL":
        (glen,) = struct.unpack_from("<I", data, pos + 8)
        return pos + 12 + glen
    while pos + 8 <= len(data):
        group, elem = struct.unpack_from("<HH", data, pos)
        if group != 2:
            break
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV"):
            (vlen,) = struct.unpack_from("<I", data, pos + 8)
            pos += 12 + vlen
        else:
            (vlen,) = struct.unpack_from("<H", data, pos + 6)
            pos += 8 + vlen
    return pos


def dataset_bytes(path):
    """The bytes of the dataset after preamble + meta group (explicit VR LE meta)."""
    with open(path, "rb") as f:
        data = f.read()
    return data[dataset_offset(data):]


def file_meta(path):
    """(SOP class UID, SOP instance UID, transfer syntax UID) from the file meta, or Nones."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta = read_file_meta_info(path)
        return (str(meta.get("MediaStorageSOPClassUID", "") or "") or None,
                str(meta.get("MediaStorageSOPInstanceUID", "") or "") or None,
                str(meta.get("TransferSyntaxUID", "") or "") or None)
    except Exception:
        return (None, None, None)


_SOP_CACHE = {}


def sop_info(path):
    """(SOP class, SOP instance, TS or None) the way storescu sees a file: UIDs
    from the dataset (they may differ from the file meta, e.g. rtplan.dcm),
    the transfer syntax from the meta header."""
    try:
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key in _SOP_CACHE:
        return _SOP_CACHE[key]
    mcls, minst, ts = file_meta(path)
    cls = inst = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        cls = str(ds.get("SOPClassUID", "") or "") or None
        inst = str(ds.get("SOPInstanceUID", "") or "") or None
    except Exception:
        pass
    result = (cls or mcls, inst or minst, ts)
    if key is not None:
        _SOP_CACHE[key] = result
    return result


def all_files(root):
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            out.append(os.path.join(dirpath, name))
    return sorted(out)


def stored_objects(data_dir):
    """Map SOP Instance UID -> path for every *.dcm under DATA/blobs/objects/."""
    root = os.path.join(data_dir, "blobs", "objects")
    result = {}
    for path in all_files(root) if os.path.isdir(root) else []:
        if not path.endswith(".dcm"):
            continue
        _cls, inst, _ts = file_meta(path)
        if inst is None:
            inst = "<unreadable meta>:" + path
        if inst in result:
            raise AssertionError(f"SOP Instance UID {inst} stored twice: {result[inst]} and {path}")
        result[inst] = path
    return result


def objects_in_dir(root):
    """Map SOP Instance UID -> path for every DICOM file (with meta) under root."""
    result = {}
    for path in all_files(root):
        _cls, inst, _ts = file_meta(path)
        if inst:
            result[inst] = path
    return result


def totp_code(secret_base32, at=None, step_offset=0):
    """The RFC 6238 code (HMAC-SHA1, 30 s, 6 digits) an authenticator app shows for the secret."""
    key = base64.b32decode(secret_base32 + "=" * (-len(secret_base32) % 8))
    step = int((time.time() if at is None else at) // 30) + step_offset
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1000000:06d}"


def fmt_status(status):
    return "no response" if status is None else f"0x{status:04X}"


def staging_leftovers(data_dir):
    root = os.path.join(data_dir, "blobs", "staging")
    return all_files(root) if os.path.isdir(root) else []


# ----------------------------------------------------------------------------
# Running processes


class Transcript:
    """What a test ran and saw, printed when the test fails."""

    def __init__(self):
        self.parts = []

    def add(self, title, text):
        self.parts.append((title, text))

    def dump(self, limit=12000):
        out = []
        for title, text in self.parts:
            if text and len(text) > limit:
                text = text[:limit // 2] + f"\n... [{len(text) - limit} chars cut] ...\n" + text[-limit // 2:]
            out.append(f"----- {title}\n{text}")
        return "\n".join(out)


def run(cmd, timeout=TOOL_TIMEOUT, env=None, transcript=None, input=None, cwd=None):
    """Run a command, return CompletedProcess with .out = stdout+stderr (text)."""
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              env=env, input=input, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace") + (e.stderr or b"").decode("utf-8", "replace")
        if transcript is not None:
            transcript.add(f"TIMEOUT after {timeout}s: {' '.join(map(str, cmd))}", out)
        raise AssertionError(f"command timed out after {timeout}s: {' '.join(map(str, cmd))}\n{out[-4000:]}")
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    proc.out = proc.stdout + proc.stderr
    if transcript is not None:
        transcript.add(f"$ {' '.join(map(str, cmd))}  -> rc={proc.returncode} "
                       f"({time.monotonic() - start:.1f}s)",
                       f"[stdout]\n{proc.stdout}[stderr]\n{proc.stderr}")
    return proc


class TlsFiles:
    """Client key/cert/CA for DCMTK's +tls key cert +cf ca."""

    def __init__(self, key, cert, ca):
        self.key, self.cert, self.ca = key, cert, ca

    def dcmtk_args(self):
        args = []
        if self.key and self.cert:
            args += ["+tls", self.key, self.cert]
        else:
            args += ["+tla"]
        if self.ca:
            args += ["+cf", self.ca]
        return args + ["--profile-bcp195-nd"]

    def fingerprint(self):
        return cert_sha256(self.cert)


def cert_sha256(pem_path):
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def make_foreign_ca_cert(directory, cn="FOREIGN"):
    """A self-signed CA and a client cert issued by it (not Bastion's CA)."""
    os.makedirs(directory, exist_ok=True)
    ca_key, ca = os.path.join(directory, "ca-key.pem"), os.path.join(directory, "ca.pem")
    key, csr, cert = (os.path.join(directory, n) for n in ("key.pem", "req.csr", "cert.pem"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for cmd in (["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
                 "-subj", f"/CN={cn} CA"],
                ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={cn}"],
                ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", cert, "-days", "2"]):
        p = run(cmd, timeout=30)
        if p.returncode != 0:
            raise RuntimeError(f"openssl failed: {' '.join(cmd)}\n{p.out}")
    return TlsFiles(key, cert, ca)


def dcmtk(tool, args, transcript=None, timeout=TOOL_TIMEOUT, env=None):
    return run([tool, *args], timeout=timeout, env=env or TOOL_ENV, transcript=transcript)


def echoscu(port, aet, aec="BASTION", tls=None, transcript=None, extra=(), timeout=60):
    args = ["-v", *extra, "-aet", aet, "-aec", aec, "-to", "10", "-ta", "15", "-ts", "30"]
    if tls is not None:
        args += tls.dcmtk_args()
    return dcmtk("echoscu", args + [LOOPBACK, str(port)], transcript, timeout)


def storescu(port, files, aet, aec="BASTION", tls=None, transcript=None, extra=(), config=None,
             timeout=TOOL_TIMEOUT, debug=True):
    """storescu; with debug=True (-d) the exact DIMSE status of every response is logged."""
    args = ["-d" if debug else "-v", "-nh", *extra, "-aet", aet, "-aec", aec, "-to", "10", "-ta", "15",
            "-ts", "60"]
    if config is not None:
        args += ["-xf", config[0], config[1]]
    if tls is not None:
        args += tls.dcmtk_args()
    return dcmtk("storescu", args + [LOOPBACK, str(port), *files], transcript, timeout)


def findscu(port, aet, aec="BASTION", tls=None, transcript=None, keys=("QueryRetrieveLevel=PATIENT",
                                                                       "PatientName=*")):
    args = ["-v", "-P", "-aet", aet, "-aec", aec, "-to", "10", "-ta", "15", "-ts", "30"]
    for k in keys:
        args += ["-k", k]
    if tls is not None:
        args += tls.dcmtk_args()
    return dcmtk("findscu", args + [LOOPBACK, str(port)], transcript, 60)


def association_accepted(out):
    return "Association Accepted" in out


def echo_ok(proc):
    return proc.returncode == 0 and "Received Echo Response (Success)" in proc.out


_STATUS_RE = re.compile(r"DIMSE Status\s*:\s*0x([0-9A-Fa-f]{4})")
_RSP_RE = re.compile(r"Received Store Response(?: \((.*)\))?")


def parse_storescu(out):
    """Per file sent: list of dicts {file, status (int or None), text}.

    Works with -v ("Received Store Response (Success)") and -d
    ("DIMSE Status : 0x0000: Success"). A file whose store failed without a
    response has status None.
    """
    results = []
    current = None
    awaiting = False
    for line in out.splitlines():
        m = re.search(r"Sending file: (.*)$", line)
        if m:
            current = {"file": m.group(1).strip(), "status": None, "text": ""}
            results.append(current)
            awaiting = False
            continue
        m = _RSP_RE.search(line)
        if m and current is not None:
            awaiting = True
            if m.group(1):
                current["text"] = m.group(1)
                if m.group(1) == "Success" and current["status"] is None:
                    current["status"] = 0
            continue
        m = _STATUS_RE.search(line)
        if m and awaiting and current is not None:
            current["status"] = int(m.group(1), 16)
            current["text"] = line.split(m.group(0), 1)[1].lstrip(": ").strip() or current["text"]
            awaiting = False
            continue
        if "Store Failed, file:" in line and current is not None:
            current["failed"] = True
    return results


def is_success(status):
    return status == 0x0000


def is_failure(status):
    """DIMSE failure/refusal (A7xx, A9xx, Cxxx, 01xx, 02xx), not success or warning."""
    if status is None:
        return False
    if status == 0 or status == 0x0001 or 0xB000 <= status <= 0xBFFF or status in (0xFF00, 0xFF01):
        return False
    return True


def storescu_config(path, files, profile="Files", extra_uncompressed_for_metaless=True):
    """A storescu -xf config proposing, for every (SOP class, TS) pair among files,
    one presentation context with exactly that TS, so storescu sends every
    file in its own transfer syntax (no conversion). Files without a meta
    header get one context per uncompressed TS. Returns (path, profile)."""
    pairs = {}
    for f in files:
        cls, _inst, ts = sop_info(f)
        if not cls:
            continue
        s = pairs.setdefault(cls, set())
        if ts:
            s.add(ts)
        elif extra_uncompressed_for_metaless:
            s.update(UNCOMPRESSED_TS)
    names = {}
    lines = ["[[TransferSyntaxes]]"]
    pcs = []
    for cls in sorted(pairs):
        for ts in sorted(pairs[cls]):
            if ts not in names:
                names[ts] = f"TS{len(names)}"
                lines += [f"[{names[ts]}]", f"TransferSyntax1 = {ts}"]
            pcs.append(f"{cls}\\{names[ts]}")
    if len(pcs) > 128:
        raise ValueError(f"{len(pcs)} presentation contexts > 128")
    lines += ["[[PresentationContexts]]", f"[{profile}]"]
    lines += [f"PresentationContext{i + 1} = {pc}" for i, pc in enumerate(pcs)]
    lines += ["[[Profiles]]", f"[{profile}]", f"PresentationContexts = {profile}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, profile


def reference_store(workdir, files, config=None, transcript=None):
    """What storescu actually puts on the wire for these files: send them to
    DCMTK's `storescp --bit-preserving` and return {SOP Instance UID: dataset
    bytes}. (storescu re-encodes datasets, e.g. drops trailing padding, so the
    source file is not always the oracle.)"""
    out_dir = tempfile.mkdtemp(prefix="ref-", dir=workdir)
    port = free_port()
    log = open(out_dir + ".log", "wb")
    scp = subprocess.Popen(["storescp", "--bit-preserving", "+xa", "-aet", "REF", "-od", out_dir, "-dhl",
                            str(port)], stdout=log, stderr=subprocess.STDOUT, env=TOOL_ENV)
    log.close()
    try:
        wait_port(port, 15)
        p = storescu(port, files, "REFSCU", "REF", config=config, transcript=transcript)
        if p.returncode != 0:
            raise AssertionError(f"reference storescu/storescp failed:\n{p.out[-3000:]}")
    finally:
        scp.kill()
        scp.wait(timeout=10)
    return {uid: dataset_bytes(path) for uid, path in objects_in_dir(out_dir).items()}


# ----------------------------------------------------------------------------
# Bastion under test


class ServerProcess:
    def __init__(self, popen, stderr_path, name):
        self.popen = popen
        self.stderr_path = stderr_path
        self.name = name
        self.stdout_lines = []
        self.ready_line = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self):
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.stdout_lines.append(line)
            if line.startswith("ready:") and self.ready_line is None:
                self.ready_line = line
                self._ready.set()
        self.popen.stdout.close()
        self._ready.set()  # EOF: wake any waiter

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(timeout=0.2) or self.popen.poll() is not None:
                break
        if self.ready_line is None:
            rc = self.popen.poll()
            raise AssertionError(
                f"{self.name}: no 'ready:' line within {timeout}s (exit code {rc})\n"
                f"stdout:\n{self.stdout_text()}\nstderr:\n{self.stderr_text()[-6000:]}")
        return self.ready_line

    def stdout_text(self):
        with self._lock:
            return "\n".join(self.stdout_lines)

    def stderr_text(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.popen.poll() is None

    def terminate(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait for exit (bounded); returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)
            raise AssertionError(f"{self.name}: did not exit within {timeout}s of SIGTERM")
        self._reader.join(timeout=5)
        return rc

    def kill(self):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)
        self._reader.join(timeout=5)


class Bastion:
    """A data directory made by `bastion init` plus helpers around it."""

    def __init__(self, transcript, workdir, ae="BASTION", init=True, init_args=(), name="bastion"):
        self.transcript = transcript
        self.workdir = workdir
        self.ae = ae
        self.name = name
        self.data = os.path.join(workdir, name + "-data")
        self.tls_port = free_port()
        self.plain_port = free_port(exclude=(self.tls_port,))
        self.https_port = free_port(exclude=(self.tls_port, self.plain_port))
        self.servers = []
        self.server = None
        self._nstart = 0
        if init:
            p = self.init(*init_args)
            if p.returncode != 0:
                raise AssertionError(f"bastion init failed rc={p.returncode}\n{p.out}")

    # --- CLI

    def cli(self, *args, timeout=TOOL_TIMEOUT, env=None, input=None):
        return run([BASTION_BIN, *map(str, args)], timeout=timeout, env=env, transcript=self.transcript,
                   input=input)

    def init(self, *extra):
        args = ["init", "--data", self.data, "--tls-port", self.tls_port, "--plain-port", self.plain_port]
        if "--tls-bind" not in extra:
            args += ["--tls-bind", LOOPBACK]  # never listen beyond loopback in tests
        if "--https-bind" not in extra:
            args += ["--https-bind", LOOPBACK]
        if "--https-port" not in extra:
            args += ["--https-port", self.https_port]
        if self.ae != "BASTION" and "--ae" not in extra:
            args += ["--ae", self.ae]
        return self.cli(*args, *extra)

    def node_add(self, ae, host=LOOPBACK, allow="echo,store", port=None, fingerprint=None,
                 tls_only=False, check=True):
        args = ["node", "add", "--data", self.data, "--ae", ae, "--host", host, "--allow", allow]
        if port is not None:
            args += ["--port", port]
        if fingerprint is not None:
            args += ["--tls-cert-sha256", fingerprint]
        if tls_only:
            args += ["--tls-only"]
        p = self.cli(*args)
        if check and p.returncode != 0:
            raise AssertionError(f"node add {ae} failed rc={p.returncode}\n{p.out}")
        return p

    def node_remove(self, ae, check=True):
        p = self.cli("node", "remove", "--data", self.data, "--ae", ae)
        if check and p.returncode != 0:
            raise AssertionError(f"node remove {ae} failed rc={p.returncode}\n{p.out}")
        return p

    def node_list(self, as_json=True):
        args = ["node", "list", "--data", self.data] + (["--json"] if as_json else [])
        p = self.cli(*args)
        if p.returncode != 0:
            raise AssertionError(f"node list failed rc={p.returncode}\n{p.out}")
        return json.loads(p.stdout) if as_json else p.stdout

    def node_cert(self, ae, out_dir=None):
        out_dir = out_dir or os.path.join(self.workdir, f"cert-{ae}")
        p = self.cli("node", "cert", "--data", self.data, "--ae", ae, "--out", out_dir)
        if p.returncode != 0:
            raise AssertionError(f"node cert {ae} failed rc={p.returncode}\n{p.out}")
        tls = TlsFiles(os.path.join(out_dir, "key.pem"), os.path.join(out_dir, "cert.pem"),
                       os.path.join(out_dir, "ca.pem"))
        tls.cli_output = p.out
        return tls

    def import_(self, *paths):
        return self.cli("import", "--data", self.data, *paths, timeout=600)

    def audit_verify(self):
        return self.cli("audit", "verify", "--data", self.data)

    # --- files in the data directory

    @property
    def config_path(self):
        return os.path.join(self.data, "bastion.toml")

    def config_text(self):
        with open(self.config_path) as f:
            return f.read()

    def set_config(self, section, key, value):
        """Set key = value (value already TOML-encoded) in [section] of bastion.toml.

        Replaces an existing (possibly commented-out) `key =` line inside the
        section, or inserts it right after the section header; appends the
        section if it does not exist.
        """
        lines = self.config_text().split("\n")
        header = re.compile(r"^\s*\[\s*" + re.escape(section) + r"\s*\]\s*(#.*)?$")
        any_header = re.compile(r"^\s*\[[^\]]+\]\s*(#.*)?$")
        keyline = re.compile(r"^\s*#?\s*" + re.escape(key) + r"\s*=")
        start = next((i for i, l in enumerate(lines) if header.match(l)), None)
        if start is None:
            lines += ["", f"[{section}]", f"{key} = {value}", ""]
        else:
            end = next((i for i in range(start + 1, len(lines)) if any_header.match(lines[i])), len(lines))
            hits = [i for i in range(start + 1, end) if keyline.match(lines[i])]
            live = [i for i in hits if not lines[i].lstrip().startswith("#")]
            target = (live or hits or [None])[0]
            if target is None:
                lines.insert(start + 1, f"{key} = {value}")
            else:
                lines[target] = f"{key} = {value}"
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines))
        self.transcript.add(f"set [{section}] {key} = {value} in bastion.toml", "")

    def objects(self):
        return stored_objects(self.data)

    def staging_leftovers(self):
        return staging_leftovers(self.data)

    @property
    def audit_path(self):
        return os.path.join(self.data, "audit", "audit.log")

    def audit_records(self):
        records = []
        if not os.path.exists(self.audit_path):
            return records
        with open(self.audit_path, "r", errors="replace") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    records.append(json.loads(line))
                except ValueError as e:
                    raise AssertionError(f"audit.log line {n} is not JSON: {e}: {line[:200]}")
        return records

    def audit_text(self):
        try:
            with open(self.audit_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # --- the server

    def start(self, expect_ready=True, wrapper=(), timeout=READY_TIMEOUT, env=None):
        self._nstart += 1
        stderr_path = os.path.join(self.workdir, f"{self.name}-serve-{self._nstart}.stderr")
        cmd = [*wrapper, BASTION_BIN, "serve", "--data", self.data]
        self.transcript.add(f"$ {' '.join(cmd)} &  (stderr -> {stderr_path})", "")
        errf = open(stderr_path, "wb")
        try:
            popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL, env=env)
        finally:
            errf.close()
        server = ServerProcess(popen, stderr_path, f"{self.name} serve #{self._nstart}")
        self.servers.append(server)
        self.server = server
        if expect_ready:
            line = server.wait_ready(timeout)
            # the ready line must say where we listen
            if f":{self.plain_port}" not in line or f":{self.tls_port}" not in line:
                raise AssertionError(f"ready line does not name ports {self.tls_port}/{self.plain_port}: {line!r}")
        return server

    def stop(self, expect_rc=0):
        """SIGTERM the running server and check its exit code."""
        server = self.server
        rc = server.terminate()
        if expect_rc is not None and rc != expect_rc:
            raise AssertionError(f"{server.name}: exit code {rc} after SIGTERM, expected {expect_rc}\n"
                                 f"stderr:\n{server.stderr_text()[-6000:]}")
        return rc

    def kill(self):
        self.server.kill()

    def shutdown_all(self):
        for s in self.servers:
            if s.alive():
                s.kill()

    def diagnostics(self):
        out = [f"=== {self.name}: data dir {self.data}"]
        for s in self.servers:
            out.append(f"--- {s.name} (rc={s.popen.poll()}) stdout:\n{s.stdout_text()}")
            err = s.stderr_text()
            if len(err) > 20000:
                err = err[:5000] + "\n...\n" + err[-15000:]
            out.append(f"--- {s.name} stderr ({s.stderr_path}):\n{err}")
        return "\n".join(out)

    # --- DCMTK shortcuts

    def echo(self, aet, tls=None, aec=None, port=None):
        port = port or (self.tls_port if tls is not None else self.plain_port)
        return echoscu(port, aet, aec or self.ae, tls=tls, transcript=self.transcript)

    def store(self, aet, files, tls=None, aec=None, port=None, **kw):
        port = port or (self.tls_port if tls is not None else self.plain_port)
        return storescu(port, files, aet, aec or self.ae, tls=tls, transcript=self.transcript, **kw)

    def find(self, aet, tls=None, aec=None, port=None):
        port = port or (self.tls_port if tls is not None else self.plain_port)
        return findscu(port, aet, aec or self.ae, tls=tls, transcript=self.transcript)


class HttpAnswer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (lower-case name, value)
        self.body = body        # bytes

    def header(self, name):
        for n, v in self.headers:
            if n == name.lower():
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return f"HTTP {self.status} {self.headers} {self.body[:300]!r}"


class WebClient:
    """curl against a running bastion's HTTPS port, verifying its certificate
    against the data directory's CA, with its own cookie jar."""

    def __init__(self, bastion, transcript, name="web", scheme="https", port=None):
        self.b = bastion
        self.transcript = transcript
        self.scheme = scheme
        self.port = port or bastion.https_port
        self.dir = tempfile.mkdtemp(prefix=f"{name}-", dir=bastion.workdir)
        self.jar = os.path.join(self.dir, "cookies.txt")
        self.csrf = None

    def url(self, path):
        return f"{self.scheme}://localhost:{self.port}{path}"

    def request(self, method, path, headers=(), data=None, data_file=None, token=None, cookies=True,
                extra=(), timeout=60):
        hdr_file = os.path.join(self.dir, "headers.txt")
        body_file = os.path.join(self.dir, "body.bin")
        cmd = ["curl", "-sS", "--path-as-is", "-X", method, "-D", hdr_file, "-o", body_file,
               "-w", "%{http_code}", "--max-time", str(timeout), "--resolve", f"localhost:{self.port}:127.0.0.1"]
        if self.scheme == "https":
            cmd += ["--cacert", os.path.join(self.b.data, "tls", "ca.pem")]
        if cookies:
            cmd += ["-b", self.jar, "-c", self.jar]
        for hname, hvalue in headers:
            cmd += ["-H", f"{hname}: {hvalue}"]
        if token:
            cmd += ["-H", f"Authorization: Bearer {token}"]
        if data is not None:
            cmd += ["--data-binary", "@-"]
        if data_file is not None:
            cmd += ["--data-binary", "@" + data_file]
        cmd += list(extra) + [self.url(path)]
        p = run(cmd, transcript=self.transcript, timeout=timeout + 10,
                input=(data.encode() if isinstance(data, str) else data) if data is not None else None)
        if p.returncode != 0:
            raise AssertionError(f"curl failed rc={p.returncode}: {p.out}")
        status = int(p.stdout.strip()[-3:])
        headers = []
        with open(hdr_file, "r", errors="replace") as f:
            for line in f:
                if line.startswith("HTTP/"):
                    headers = []  # the last response (after 100 Continue)
                elif ":" in line:
                    n, v = line.split(":", 1)
                    headers.append((n.strip().lower(), v.strip()))
        with open(body_file, "rb") as f:
            body = f.read()
        return HttpAnswer(status, headers, body)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, data=None, **kw):
        headers = list(kw.pop("headers", ()))
        if self.csrf and kw.pop("csrf", True):
            headers.append(("X-CSRF-Token", self.csrf))
        return self.request("POST", path, headers=headers, data=data, **kw)

    def login(self, user, password, expect=200, code=None):
        body = {"user": user, "password": password}
        if code is not None:
            body["code"] = code
        r = self.request("POST", "/api/login", headers=[("Content-Type", "application/json")],
                         data=json.dumps(body))
        if expect is not None and r.status != expect:
            raise AssertionError(f"login as {user}: expected {expect}, got {r}")
        if r.status == 200:
            self.csrf = r.json()["csrf_token"]
        return r


class BastionTestCase(unittest.TestCase):
    """Gives each test a temp dir and a transcript; on failure prints the
    commands run, their output and every server's stderr, and keeps the temp
    dir (BASTION_IT_KEEP=1 keeps it always)."""

    need_synth = False

    @classmethod
    def setUpClass(cls):
        require_binaries(*([True] if cls.need_synth else []))

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=f"bastion-it-{self._testMethodName}-")
        self.transcript = Transcript()
        self.bastions = []
        self.helpers = []  # other processes (storescp, ...) to kill

    def new_bastion(self, **kw):
        name = kw.pop("name", f"bastion{len(self.bastions) + 1}" if self.bastions else "bastion")
        b = Bastion(self.transcript, self.tmp, name=name, **kw)
        self.bastions.append(b)
        return b

    def spawn(self, cmd, stdout_path=None, env=None):
        """A background helper process (killed at the end of the test)."""
        out = open(stdout_path or os.devnull, "wb")
        try:
            p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env or TOOL_ENV)
        finally:
            out.close()
        self.helpers.append(p)
        self.transcript.add(f"$ {' '.join(map(str, cmd))} &  (pid {p.pid})", "")
        return p

    def _teardown_processes(self):
        for b in self.bastions:
            b.shutdown_all()
        for p in self.helpers:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            failed = len(result.failures) + len(result.errors) > before
            tmp = getattr(self, "tmp", None)
            if hasattr(self, "bastions"):
                self._teardown_processes()
                if failed:
                    sys.stderr.write(f"\n######## diagnostics for {self.id()} (kept {tmp})\n")
                    sys.stderr.write(self.transcript.dump() + "\n")
                    for b in self.bastions:
                        sys.stderr.write(b.diagnostics() + "\n")
                    sys.stderr.write("######## end of diagnostics\n")
                    sys.stderr.flush()
            if tmp and not failed and not os.environ.get("BASTION_IT_KEEP"):
                shutil.rmtree(tmp, ignore_errors=True)

    # assertions used everywhere

    def assertEchoOk(self, proc, msg=""):
        if not echo_ok(proc):
            self.fail(f"echo expected to succeed {msg}: rc={proc.returncode}\n{proc.out[-3000:]}")

    def assertNoAssociation(self, proc, msg=""):
        """The tool got no usable association (rejected, aborted or never connected)."""
        if association_accepted(proc.out) or proc.returncode == 0:
            self.fail(f"expected no association {msg}, rc={proc.returncode}\n{proc.out[-3000:]}")

    def assertRejected(self, proc, reason=None, msg=""):
        """A-ASSOCIATE-RJ as printed by DCMTK; optionally with this reason text."""
        out = proc.out
        if proc.returncode == 0 or "Association Rejected" not in out:
            self.fail(f"expected A-ASSOCIATE-RJ {msg}, rc={proc.returncode}\n{out[-3000:]}")
        if reason is not None and f"Reason: {reason}" not in out:
            self.fail(f"expected reject reason '{reason}' {msg}\n{out[-3000:]}")


# ----------------------------------------------------------------------------
# A minimal DICOM upper-layer client (PS3.8) for what DCMTK tools won't send.


def _item(item_type, payload):
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _ae16(ae):
    return ae.encode("ascii").ljust(16)[:16]


def _ui(uid):
    b = uid.encode("ascii")
    return b + (b"\0" if len(b) % 2 else b"")


def _elem_ile(group, elem, value):
    return struct.pack("<HHI", group, elem, len(value)) + value


def encode_command(fields):
    """fields: list of ((group, elem), bytes) in tag order (group 0000), implicit VR LE."""
    body = b"".join(_elem_ile(g, e, v) for (g, e), v in fields)
    return _elem_ile(0, 0, struct.pack("<I", len(body))) + body


def decode_command(data):
    out = {}
    pos = 0
    while pos + 8 <= len(data):
        g, e, n = struct.unpack_from("<HHI", data, pos)
        out[(g, e)] = data[pos + 8:pos + 8 + n]
        pos += 8 + n
    return out


class AssociationResult:
    def __init__(self):
        self.kind = None          # 'accepted' | 'rejected' | 'aborted' | 'closed' | 'error'
        self.reject = None        # (result, source, reason)
        self.contexts = {}        # pcid -> (result, ts)
        self.peer_max_pdu = 0
        self.error = None

    def __repr__(self):
        return f"<assoc {self.kind} rj={self.reject} pcs={self.contexts} err={self.error}>"


class MiniSCU:
    """Just enough of the DICOM upper layer to send hand-made PDUs and C-STOREs."""

    def __init__(self, port, calling, called="BASTION", tls=None, source=None, timeout=20.0):
        self.port, self.calling, self.called = port, calling, called
        self.timeout = timeout
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            raw.settimeout(timeout)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if source:
                raw.bind((source, 0))
            raw.connect((LOOPBACK, port))
            if tls is not None:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
                ctx.check_hostname = False
                ctx.load_verify_locations(tls.ca)
                if tls.key and tls.cert:
                    ctx.load_cert_chain(tls.cert, tls.key)
                raw = ctx.wrap_socket(raw, server_hostname="bastion")
        except BaseException:
            raw.close()
            raise
        self.sock = raw
        self.msg_id = 0
        self.contexts = {}
        self.peer_max_pdu = 16384

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed by peer")
            buf += chunk
        return buf

    def read_pdu(self):
        hdr = self._recv_exact(6)
        pdu_type, _r, length = struct.unpack(">BBI", hdr)
        if length > (1 << 26):
            raise ValueError(f"absurd PDU length {length}")
        return pdu_type, self._recv_exact(length)

    def associate(self, contexts, max_pdu=16384):
        """contexts: list of (abstract syntax, [transfer syntaxes]). Returns AssociationResult."""
        res = AssociationResult()
        variable = _item(0x10, b"1.2.840.10008.3.1.1.1")
        for i, (asx, tss) in enumerate(contexts):
            pcid = 2 * i + 1
            sub = _item(0x30, asx.encode()) + b"".join(_item(0x40, ts.encode()) for ts in tss)
            variable += _item(0x20, bytes([pcid, 0, 0, 0]) + sub)
        user = (_item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, b"1.2.826.0.1.3680043.9.7433.1.1")
                + _item(0x55, b"BASTION_IT"))
        variable += _item(0x50, user)
        body = struct.pack(">HH", 1, 0) + _ae16(self.called) + _ae16(self.calling) + b"\0" * 32 + variable
        try:
            self.sock.sendall(struct.pack(">BBI", 1, 0, len(body)) + body)
            pdu_type, data = self.read_pdu()
        except (EOFError, ConnectionError, ssl.SSLError, socket.timeout, OSError) as e:
            res.kind, res.error = "closed", repr(e)
            return res
        if pdu_type == 0x02:
            res.kind = "accepted"
            pos = 68
            while pos + 4 <= len(data):
                it, _r, ln = struct.unpack_from(">BBH", data, pos)
                payload = data[pos + 4:pos + 4 + ln]
                if it == 0x21:
                    pcid, result = payload[0], payload[2]
                    ts = None
                    if len(payload) > 8 and payload[4] == 0x40:
                        (tl,) = struct.unpack_from(">H", payload, 6)
                        ts = payload[8:8 + tl].rstrip(b"\0 ").decode()
                    res.contexts[pcid] = (result, ts)
                elif it == 0x50:
                    p2 = 0
                    while p2 + 4 <= len(payload):
                        st, _r2, sl = struct.unpack_from(">BBH", payload, p2)
                        if st == 0x51 and sl == 4:
                            (res.peer_max_pdu,) = struct.unpack_from(">I", payload, p2 + 4)
                        p2 += 4 + sl
                pos += 4 + ln
            self.contexts = res.contexts
            self.peer_max_pdu = res.peer_max_pdu or (1 << 20)
        elif pdu_type == 0x03:
            res.kind = "rejected"
            res.reject = (data[1], data[2], data[3])
        elif pdu_type == 0x07:
            res.kind = "aborted"
        else:
            res.kind, res.error = "error", f"unexpected PDU type {pdu_type:#x}"
        return res

    def _send_pdv(self, pcid, data, is_command, last_flag_on_final=True):
        chunk = max(1024, min(self.peer_max_pdu, 65536) - 6)
        pos = 0
        while True:
            part = data[pos:pos + chunk]
            pos += len(part)
            final = pos >= len(data)
            mch = (1 if is_command else 0) | (2 if (final and last_flag_on_final) else 0)
            pdv = struct.pack(">IBB", len(part) + 2, pcid, mch) + part
            self.sock.sendall(struct.pack(">BBI", 4, 0, len(pdv)) + pdv)
            if final:
                break

    def read_command(self):
        """Read P-DATA until a complete command; returns dict of command fields.

        Raises EOFError / returns {'abort': True} on A-ABORT."""
        buf = b""
        while True:
            pdu_type, data = self.read_pdu()
            if pdu_type == 0x07:
                return {"abort": True}
            if pdu_type != 0x04:
                raise ValueError(f"unexpected PDU {pdu_type:#x} while waiting for a response")
            pos = 0
            while pos + 6 <= len(data):
                (ln,) = struct.unpack_from(">I", data, pos)
                mch = data[pos + 5]
                buf += data[pos + 6:pos + 4 + ln]
                pos += 4 + ln
                if mch & 1 and mch & 2:
                    return decode_command(buf)

    def pcid_for(self, abstract, ts):
        # contexts are proposed in order; caller knows which index it used
        for pcid, (result, acc_ts) in sorted(self.contexts.items()):
            if result == 0 and acc_ts == ts:
                return pcid
        return None

    def c_echo(self, pcid):
        self.msg_id += 1
        cmd = encode_command([((0, 2), _ui(UID_VERIFICATION)), ((0, 0x100), struct.pack("<H", 0x30)),
                              ((0, 0x110), struct.pack("<H", self.msg_id)),
                              ((0, 0x800), struct.pack("<H", 0x0101))])
        self._send_pdv(pcid, cmd, True)
        rsp = self.read_command()
        if rsp.get("abort"):
            return None
        return struct.unpack("<H", rsp[(0, 0x900)])[0]

    def c_store(self, pcid, sop_class, sop_instance, dataset, last_flag=True):
        """Send C-STORE-RQ + dataset bytes; returns the status (int), or None if aborted/closed."""
        self.msg_id += 1
        cmd = encode_command([((0, 2), _ui(sop_class)), ((0, 0x100), struct.pack("<H", 1)),
                              ((0, 0x110), struct.pack("<H", self.msg_id)),
                              ((0, 0x700), struct.pack("<H", 0)), ((0, 0x800), struct.pack("<H", 0)),
                              ((0, 0x1000), _ui(sop_instance))])
        try:
            self._send_pdv(pcid, cmd, True)
            self._send_pdv(pcid, dataset, False, last_flag_on_final=last_flag)
            rsp = self.read_command()
        except (EOFError, ConnectionError, ssl.SSLError, socket.timeout, OSError):
            return None
        if rsp.get("abort"):
            return None
        return struct.unpack("<H", rsp[(0, 0x900)])[0]

    def release(self):
        try:
            self.sock.sendall(struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
            pdu_type, _ = self.read_pdu()
            return pdu_type == 0x06
        except (EOFError, ConnectionError, ssl.SSLError, socket.timeout, OSError, ValueError):
            return False
        finally:
            self.close()


def mini_associate(port, calling, called="BASTION", contexts=((UID_VERIFICATION, [TS_IMPLICIT_LE]),),
                   tls=None, source=None):
    """Connect + A-ASSOCIATE-RQ; returns (MiniSCU, AssociationResult)."""
    scu = MiniSCU(port, calling, called, tls=tls, source=source)
    return scu, scu.associate(list(contexts))


# ----------------------------------------------------------------------------
# Synthetic data


def synth(out_dir, studies=1, series=1, instances=10, rows=64, cols=64, transcript=None, modality=None,
          seed=None, patients=None):
    extra = []
    if modality is not None:
        extra += ["--modality", modality]
    if seed is not None:
        extra += ["--seed", str(seed)]
    if patients is not None:
        extra += ["--patients", str(patients)]
    p = run([SYNTH_BIN, "--out", out_dir, "--studies", str(studies), "--series", str(series),
             "--instances", str(instances), "--rows", str(rows), "--cols", str(cols), *extra],
            timeout=600, transcript=transcript)
    if p.returncode != 0:
        raise AssertionError(f"bastion-synth failed rc={p.returncode}\n{p.out}")
    files = [f for f in all_files(out_dir) if file_meta(f)[1]]
    if len(files) != studies * series * instances:
        raise AssertionError(f"bastion-synth made {len(files)} files, expected {studies * series * instances}")
    return files


def random_bytes(n, seed):
    rnd = random.Random(seed)
    return bytes(rnd.getrandbits(8) for _ in range(n))
