"""Query/retrieve with DCMTK's real clients: findscu (Study and Patient Root,
every level, the PS3.4 C.2.2.2 matching rules, character sets, the C-FIND
bound), getscu (byte-identical retrieval, decompression for a requester that
only takes uncompressed syntaxes), movescu to a storescp the test starts and
registers as a node, the permission checks, the 2019 `PatientName=*` query
from a stranger (plain and TLS), the audit records and C-CANCEL.

Expected answers are computed from the files sent (pydicom), never hardcoded.
Retrieved objects are compared with the bytes Bastion stored (its blob
files), which test_echo_store checks against what storescu sent.
"""

import collections
import io
import os
import re
import struct
import tempfile
import unittest
import warnings

import pydicom
from pydicom.filereader import read_dataset

import harness as h

TEST_FILES = h.PYDICOM_TEST_FILES
CHARSET_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "charset_files")
CT = os.path.join(TEST_FILES, "CT_small.dcm")
MR = os.path.join(TEST_FILES, "MR_small.dcm")
MR_RLE = os.path.join(TEST_FILES, "MR_small_RLE.dcm")          # RLE Lossless
JPEG_LOSSY = os.path.join(TEST_FILES, "JPEG-lossy.dcm")        # JPEG Extended (Process 2 & 4), 12 bit

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"

PENDING = (0xFF00, 0xFF01)
UNCOMPRESSED = set(h.UNCOMPRESSED_TS)

# The charset samples we store: file -> (PatientID, the name as pydicom decodes it)
CHARSET_SAMPLES = ["chrH31.dcm", "chrH32.dcm", "chrGreek.dcm", "chrRuss.dcm", "chrX1.dcm", "chrX2.dcm",
                   "chrI2.dcm", "chrGerm.dcm", "chrFren.dcm", "chrArab.dcm", "chrHbrw.dcm"]

COMMON = ["-to", "10", "-ta", "15", "-td", "60"]


def read_ds(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, force=True, **kw)


def text(ds, keyword):
    """An attribute's value as text ('' when absent or empty); multi-values joined by '\\'."""
    if keyword not in ds:
        return ""
    v = ds.data_element(keyword).value
    if v is None:
        return ""
    if isinstance(v, (list, pydicom.multival.MultiValue)):
        return "\\".join(str(x) for x in v)
    return str(v).strip()


# ----------------------------------------------------------------------------
# What DCMTK's tools printed (run with -d: every DIMSE message is dumped)


def dimse_messages(out):
    """Every DIMSE message DCMTK dumped: list of dicts (field -> text), with
    'direction' ('in'/'out') and, for a following 'Status Detail', 'ErrorComment'."""
    msgs = []
    cur = None
    for line in out.splitlines():
        s = line[3:] if line[:3] in ("D: ", "I: ", "W: ", "E: ", "F: ") else line
        if "INCOMING DIMSE MESSAGE" in s or "OUTGOING DIMSE MESSAGE" in s:
            cur = {"direction": "in" if "INCOMING" in s else "out"}
            continue
        if "END DIMSE MESSAGE" in s:
            if cur is not None:
                msgs.append(cur)
            cur = None
            continue
        if cur is not None:
            m = re.match(r"([A-Za-z' ]+?)\s*:\s*(.*)$", s)
            if m:
                cur[m.group(1).strip()] = m.group(2).strip()
            continue
        m = re.search(r"\(0000,0902\) LO \[(.*?)\]", s)
        if m and msgs:
            msgs[-1]["ErrorComment"] = m.group(1)
    return msgs


def accepted_contexts(out):
    """Abstract syntax names (DCMTK's, e.g. '=FINDStudyRootQueryRetrieveInformationModel') of the
    presentation contexts accepted in the A-ASSOCIATE-AC DCMTK dumped (-d)."""
    accepted = set()
    in_ac = False
    state = None
    for line in out.splitlines():
        if "BEGIN A-ASSOCIATE-AC" in line:
            in_ac = True
        elif "END A-ASSOCIATE-AC" in line:
            in_ac = False
        elif in_ac:
            m = re.search(r"Context ID:\s+\d+ \((.*)\)", line)
            if m:
                state = m.group(1)
                continue
            m = re.search(r"Abstract Syntax:\s+(\S+)", line)
            if m and state == "Accepted":
                accepted.add(m.group(1))
    return accepted


def status_of(msg):
    v = msg.get("DIMSE Status", "")
    m = re.match(r"0x([0-9A-Fa-f]{4})", v)
    return int(m.group(1), 16) if m else None


def count_of(msg, what):
    v = msg.get(f"{what} Suboperations", "")
    return int(v) if v.isdigit() else None


class ToolResult:
    """One findscu/getscu/movescu run: the responses of the operation."""

    def __init__(self, proc, rsp_type, outdir=None):
        self.proc = proc
        self.out = proc.out
        self.rc = proc.returncode
        self.outdir = outdir
        self.responses = [m for m in dimse_messages(proc.out)
                          if m["direction"] == "in" and m.get("Message Type") == rsp_type]
        self.statuses = [status_of(m) for m in self.responses]
        self.final = self.responses[-1] if self.responses and self.statuses[-1] not in PENDING else None
        self.final_status = status_of(self.final) if self.final else None
        self.pending = sum(1 for s in self.statuses if s in PENDING)
        self.error_comment = self.final.get("ErrorComment") if self.final else None

    def files(self):
        return sorted(h.all_files(self.outdir)) if self.outdir and os.path.isdir(self.outdir) else []

    def datasets(self):
        """findscu -X: the response identifiers, in order."""
        return [read_ds(f) for f in self.files() if os.path.basename(f).startswith("rsp")]

    def counts(self):
        f = self.final or {}
        return {k: count_of(f, k) for k in ("Remaining", "Completed", "Failed", "Warning")}

    def __repr__(self):
        return (f"<rc={self.rc} statuses={[h.fmt_status(s) for s in self.statuses]} "
                f"comment={self.error_comment!r}>")


# ----------------------------------------------------------------------------
# A raw C-FIND / C-CANCEL client (findscu's --cancel races the server on loopback)


def pdata_pdu(pcid, data, is_command):
    pdv = struct.pack(">IBB", len(data) + 2, pcid, (1 if is_command else 0) | 2) + data
    return struct.pack(">BBI", 4, 0, len(pdv)) + pdv


def implicit_elements(elements):
    """[(tag int, bytes value)] -> implicit VR LE dataset bytes (values padded to even length)."""
    out = b""
    for tag, value in sorted(elements):
        if len(value) % 2:
            value += b" "
        out += struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
    return out


class QrSCU(h.MiniSCU):

    def find_request(self, pcid, sop_class, identifier):
        self.msg_id += 1
        cmd = h.encode_command([((0, 2), h._ui(sop_class)), ((0, 0x100), struct.pack("<H", 0x0020)),
                                ((0, 0x110), struct.pack("<H", self.msg_id)),
                                ((0, 0x700), struct.pack("<H", 0)), ((0, 0x800), struct.pack("<H", 0x0000))])
        return pdata_pdu(pcid, cmd, True) + pdata_pdu(pcid, identifier, False)

    def cancel_request(self, pcid, message_id):
        cmd = h.encode_command([((0, 0x100), struct.pack("<H", 0x0FFF)),
                                ((0, 0x120), struct.pack("<H", message_id)),
                                ((0, 0x800), struct.pack("<H", 0x0101))])
        return pdata_pdu(pcid, cmd, True)

    def move_request(self, pcid, sop_class, destination, identifier):
        self.msg_id += 1
        cmd = h.encode_command([((0, 2), h._ui(sop_class)), ((0, 0x100), struct.pack("<H", 0x0021)),
                                ((0, 0x110), struct.pack("<H", self.msg_id)),
                                ((0, 0x600), h._ae16(destination)),
                                ((0, 0x700), struct.pack("<H", 0)), ((0, 0x800), struct.pack("<H", 0x0000))])
        return pdata_pdu(pcid, cmd, True) + pdata_pdu(pcid, identifier, False)

    def move_all(self, pcid, destination, identifier, cancel=False, limit=10000):
        """C-MOVE (and a C-CANCEL in the same write); returns (pending count, final status, final counts)."""
        data = self.move_request(pcid, STUDY_ROOT_MOVE, destination, identifier)
        if cancel:
            data += self.cancel_request(pcid, self.msg_id)
        self.sock.sendall(data)
        pending = 0
        for _ in range(limit):
            cmd, _ds = self.read_message()
            if cmd.get("abort"):
                return pending, None, {}
            status = struct.unpack("<H", cmd[(0, 0x900)])[0]
            if status not in PENDING:
                counts = {name: struct.unpack("<H", cmd[(0, el)])[0] if (0, el) in cmd else None
                          for name, el in (("Remaining", 0x1020), ("Completed", 0x1021), ("Failed", 0x1022),
                                           ("Warning", 0x1023))}
                return pending, status, counts
            pending += 1
        raise AssertionError(f"more than {limit} C-MOVE responses")

    def read_message(self):
        """(command fields, dataset bytes or None); ({'abort': True}, None) on A-ABORT."""
        cmd_buf, ds_buf = b"", b""
        cmd = None
        while True:
            pdu_type, data = self.read_pdu()
            if pdu_type == 0x07:
                return {"abort": True}, None
            if pdu_type != 0x04:
                raise ValueError(f"unexpected PDU {pdu_type:#x}")
            pos = 0
            while pos + 6 <= len(data):
                (ln,) = struct.unpack_from(">I", data, pos)
                mch = data[pos + 5]
                frag = data[pos + 6:pos + 4 + ln]
                pos += 4 + ln
                if mch & 1:
                    cmd_buf += frag
                    if mch & 2:
                        cmd = h.decode_command(cmd_buf)
                        if struct.unpack("<H", cmd[(0, 0x800)])[0] == 0x0101:
                            return cmd, None
                else:
                    ds_buf += frag
                    if mch & 2:
                        return cmd, ds_buf

    def find_all(self, pcid, identifier, cancel=False, limit=10000):
        """Send a C-FIND (and a C-CANCEL in the same write); returns (pending identifiers, final status)."""
        data = self.find_request(pcid, STUDY_ROOT_FIND, identifier)
        if cancel:
            data += self.cancel_request(pcid, self.msg_id)
        self.sock.sendall(data)
        pending = []
        for _ in range(limit):
            cmd, ds = self.read_message()
            if cmd.get("abort"):
                return pending, None
            status = struct.unpack("<H", cmd[(0, 0x900)])[0]
            if status not in PENDING:
                return pending, status
            pending.append(read_dataset(io.BytesIO(ds or b""), True, True))
        raise AssertionError(f"more than {limit} C-FIND responses")


# ----------------------------------------------------------------------------
# The catalog the tests expect, from the files sent


class Expected:
    def __init__(self, files):
        self.instances = {}
        self.studies = collections.OrderedDict()
        self.patients = collections.OrderedDict()
        for f in files:
            ds = read_ds(f, stop_before_pixels=True)
            inst = str(ds.SOPInstanceUID)
            self.instances[inst] = f
            st = self.studies.setdefault(str(ds.StudyInstanceUID), {
                "PatientID": text(ds, "PatientID"), "PatientName": text(ds, "PatientName"),
                "StudyDate": text(ds, "StudyDate"), "StudyTime": text(ds, "StudyTime"), "AccessionNumber": text(ds, "AccessionNumber"),
                "series": collections.OrderedDict()})
            se = st["series"].setdefault(str(ds.SeriesInstanceUID), {"Modality": text(ds, "Modality"),
                                                                    "instances": set()})
            se["instances"].add(inst)
            p = self.patients.setdefault(text(ds, "PatientID"), {"PatientName": text(ds, "PatientName"),
                                                                 "studies": set()})
            p["studies"].add(str(ds.StudyInstanceUID))

    def study_instances(self, study):
        return set().union(*(se["instances"] for se in self.studies[study]["series"].values()))

    def patient_counts(self, pid):
        studies = self.patients[pid]["studies"]
        series = sum(len(self.studies[s]["series"]) for s in studies)
        instances = sum(len(self.study_instances(s)) for s in studies)
        return len(studies), series, instances


def derived_copy(src, dst, **changes):
    """src with some attributes changed (new UIDs etc.), written with a matching file meta."""
    ds = read_ds(src)
    for k, v in changes.items():
        setattr(ds, k, v)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.save_as(dst, write_like_original=False)
    return dst


class QueryRetrieveTest(h.BastionTestCase):

    need_synth = True

    # --- set-up helpers

    def start_bastion(self, ws_allow="echo,store,find,move,get", config=None):
        b = self.new_bastion()
        b.node_add("WS1", host=h.LOOPBACK, allow=ws_allow)
        for (section, key), value in (config or {}).items():
            b.set_config(section, key, value)
        b.start()
        self.b = b
        return b

    def store(self, files, aet="WS1"):
        cfg = h.storescu_config(os.path.join(self.tmp, f"scu{len(self.transcript.parts)}.cfg"), files)
        p = self.b.store(aet, files, config=cfg, debug=True, timeout=300)
        statuses = {r["file"]: r["status"] for r in h.parse_storescu(p.out)}
        bad = {os.path.basename(f): h.fmt_status(statuses.get(f)) for f in files if statuses.get(f) != 0}
        self.assertEqual(bad, {}, f"storing the test data failed:\n{p.out[-3000:]}")
        return p

    def synth(self, name, **kw):
        return h.synth(os.path.join(self.tmp, name), transcript=self.transcript, **kw)

    def outdir(self, prefix):
        return tempfile.mkdtemp(prefix=prefix + "-", dir=self.tmp)

    # --- DCMTK tools

    def findscu(self, keys, model="-S", aet="WS1", tls=None, extract=True, extra=()):
        out = self.outdir("find") if extract else None
        args = ["-d", model, *extra, "-aet", aet, "-aec", self.b.ae, *COMMON]
        for k in keys:
            args += ["-k", k]
        if extract:
            args += ["-X", "-od", out]
        if tls is not None:
            args += tls.dcmtk_args()
        port = self.b.tls_port if tls is not None else self.b.plain_port
        p = h.run(["findscu", *args, h.LOOPBACK, str(port)], timeout=120, env=h.TOOL_ENV,
                  transcript=self.transcript)
        return ToolResult(p, "C-FIND RSP", out)

    def getscu(self, keys, model="-S", aet="WS1", extra=()):
        out = self.outdir("get")
        args = ["-d", model, "+B", *extra, "-aet", aet, "-aec", self.b.ae, *COMMON, "-od", out]
        for k in keys:
            args += ["-k", k]
        p = h.run(["getscu", *args, h.LOOPBACK, str(self.b.plain_port)], timeout=180, env=h.TOOL_ENV,
                  transcript=self.transcript)
        return ToolResult(p, "C-GET RSP", out)

    def movescu(self, keys, dest, model="-S", aet="WS1"):
        args = ["-d", model, "-aet", aet, "-aec", self.b.ae, "-aem", dest, *COMMON]
        for k in keys:
            args += ["-k", k]
        p = h.run(["movescu", *args, h.LOOPBACK, str(self.b.plain_port)], timeout=180, env=h.TOOL_ENV,
                  transcript=self.transcript)
        return ToolResult(p, "C-MOVE RSP")

    # --- assertions

    def assertFind(self, r, n=None, status=0x0000, msg=""):
        """findscu got an association, `n` pending matches and the final `status`."""
        self.assertTrue(h.association_accepted(r.out), f"{msg}: no association\n{r.out[-3000:]}")
        self.assertEqual(r.final_status, status, f"{msg}: final status {h.fmt_status(r.final_status)}, "
                                                 f"expected {h.fmt_status(status)}: {r}")
        if n is not None:
            self.assertEqual(r.pending, n, f"{msg}: {r.pending} pending responses, expected {n}")
            if r.outdir:
                self.assertEqual(len(r.datasets()), n, f"{msg}: {len(r.datasets())} identifiers extracted")
        return r.datasets() if r.outdir else []

    def assertSameDataset(self, got_path, stored_path, what):
        got, ref = h.dataset_bytes(got_path), h.dataset_bytes(stored_path)
        if got != ref:
            first = next((i for i in range(min(len(got), len(ref))) if got[i] != ref[i]), min(len(got), len(ref)))
            self.fail(f"{what}: retrieved dataset differs from the stored one ({len(got)} vs {len(ref)} bytes, "
                      f"first difference at offset {first})")
        self.assertEqual(h.file_meta(got_path)[2], h.file_meta(stored_path)[2],
                         f"{what}: transfer syntax differs from the stored object's")

    def assertRetrievedIdentical(self, received_dir, expected_uids, what):
        got = h.objects_in_dir(received_dir)
        self.assertEqual(set(got), set(expected_uids), f"{what}: instances received")
        stored = self.b.objects()
        for uid in sorted(expected_uids):
            self.assertSameDataset(got[uid], stored[uid], f"{what}: {uid}")
        return got

    # ------------------------------------------------------------------------
    # 1. findscu at every level, both models, the matching rules

    def make_catalog(self):
        """Synthetic CT studies over 2 patients, 2 MR studies, one study with CT and MR
        series, and pydicom's CT_small/MR_small (CompressedSamples^CT1/MR1)."""
        files = self.synth("ct", studies=4, series=2, instances=3, rows=8, cols=8, modality="CT", seed=101,
                           patients=2)
        files += self.synth("mr", studies=2, series=1, instances=2, rows=8, cols=8, modality="MR", seed=102)
        # a third series, MR, in the first CT study: ModalitiesInStudy CT\MR
        first = read_ds(files[0], stop_before_pixels=True)
        mixed = []
        for i in range(2):
            mixed.append(derived_copy(files[i], os.path.join(self.tmp, f"mixed{i}.dcm"),
                                      SeriesInstanceUID=first.SeriesInstanceUID + ".77",
                                      SOPInstanceUID=first.SeriesInstanceUID + f".77.{i + 1}",
                                      Modality="MR", SOPClassUID="1.2.840.10008.5.1.4.1.1.4",
                                      SeriesNumber=77))
        files += mixed + [CT, MR]
        return files, Expected(files), str(first.StudyInstanceUID)

    def test_find_counts_and_matching(self):
        b = self.start_bastion()
        files, exp, mixed_study = self.make_catalog()
        self.store(files)

        # --- Study Root, STUDY level, universal: every study, computed attributes right
        keys = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName", "PatientID", "StudyDate",
                "AccessionNumber", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
                "ModalitiesInStudy", "StudyDescription"]
        rsp = self.assertFind(self.findscu(keys), len(exp.studies), msg="study root STUDY, universal")
        seen = set()
        for ds in rsp:
            uid = text(ds, "StudyInstanceUID")
            self.assertIn(uid, exp.studies, f"unknown study returned: {uid}")
            seen.add(uid)
            st = exp.studies[uid]
            for k in ("NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "ModalitiesInStudy",
                      "PatientName", "PatientID", "StudyDate", "AccessionNumber", "StudyDescription"):
                self.assertIn(k, ds, f"return key {k} missing from the answer for study {uid}")
            self.assertEqual(text(ds, "QueryRetrieveLevel"), "STUDY")
            self.assertEqual(int(text(ds, "NumberOfStudyRelatedSeries")), len(st["series"]), f"series of {uid}")
            self.assertEqual(int(text(ds, "NumberOfStudyRelatedInstances")), len(exp.study_instances(uid)),
                             f"instances of {uid}")
            self.assertEqual(set(text(ds, "ModalitiesInStudy").split("\\")),
                             {se["Modality"] for se in st["series"].values()}, f"ModalitiesInStudy of {uid}")
            self.assertEqual(text(ds, "PatientID"), st["PatientID"])
            self.assertEqual(text(ds, "PatientName"), st["PatientName"])
            self.assertEqual(text(ds, "StudyDate"), st["StudyDate"])
            self.assertEqual(text(ds, "AccessionNumber"), st["AccessionNumber"])
            self.assertNotIn("PixelData", ds)
        self.assertEqual(seen, set(exp.studies), "studies returned")
        mixed = next(ds for ds in rsp if text(ds, "StudyInstanceUID") == mixed_study)
        self.assertEqual(sorted(text(mixed, "ModalitiesInStudy").split("\\")), ["CT", "MR"])

        # --- SERIES level (study root needs the StudyInstanceUID)
        keys = ["QueryRetrieveLevel=SERIES", f"StudyInstanceUID={mixed_study}", "SeriesInstanceUID", "Modality",
                "SeriesNumber", "NumberOfSeriesRelatedInstances"]
        series = exp.studies[mixed_study]["series"]
        rsp = self.assertFind(self.findscu(keys), len(series), msg="SERIES level")
        for ds in rsp:
            uid = text(ds, "SeriesInstanceUID")
            self.assertIn(uid, series)
            self.assertEqual(text(ds, "Modality"), series[uid]["Modality"])
            self.assertEqual(int(text(ds, "NumberOfSeriesRelatedInstances")), len(series[uid]["instances"]))
            self.assertEqual(text(ds, "StudyInstanceUID"), mixed_study, "unique key of the level above")
            self.assertIn("SeriesNumber", ds)
        # Modality at series level
        rsp = self.assertFind(self.findscu(keys[:2] + ["SeriesInstanceUID", "Modality=MR"]), 1,
                              msg="SERIES level, Modality=MR")
        self.assertEqual(text(rsp[0], "Modality"), "MR")
        self.assertTrue(text(rsp[0], "SeriesInstanceUID").endswith(".77"))
        self.assertFind(self.findscu(keys[:2] + ["SeriesInstanceUID", "Modality=US"]), 0,
                        msg="SERIES level, Modality=US")
        # study root SERIES level without the StudyInstanceUID: not hierarchical
        self.assertFind(self.findscu(["QueryRetrieveLevel=SERIES", "SeriesInstanceUID", "Modality=MR"]), 0,
                        status=0xA900, msg="study root SERIES level without StudyInstanceUID")

        # --- IMAGE level
        se_uid, se = next(iter(series.items()))
        keys = ["QueryRetrieveLevel=IMAGE", f"StudyInstanceUID={mixed_study}", f"SeriesInstanceUID={se_uid}",
                "SOPInstanceUID", "SOPClassUID", "InstanceNumber"]
        rsp = self.assertFind(self.findscu(keys), len(se["instances"]), msg="IMAGE level")
        self.assertEqual({text(ds, "SOPInstanceUID") for ds in rsp}, se["instances"])
        for ds in rsp:
            self.assertEqual(text(ds, "SOPClassUID"), str(read_ds(exp.instances[text(ds, "SOPInstanceUID")],
                                                                  stop_before_pixels=True).SOPClassUID))
            self.assertTrue(text(ds, "InstanceNumber"), "InstanceNumber not returned")

        # --- Patient Root: PATIENT level counts
        keys = ["QueryRetrieveLevel=PATIENT", "PatientID", "PatientName", "NumberOfPatientRelatedStudies",
                "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances"]
        rsp = self.assertFind(self.findscu(keys, model="-P"), len(exp.patients), msg="patient root PATIENT")
        self.assertEqual({text(ds, "PatientID") for ds in rsp}, set(exp.patients))
        for ds in rsp:
            pid = text(ds, "PatientID")
            n_st, n_se, n_in = exp.patient_counts(pid)
            self.assertEqual(text(ds, "PatientName"), exp.patients[pid]["PatientName"])
            self.assertEqual(int(text(ds, "NumberOfPatientRelatedStudies")), n_st, f"studies of patient {pid}")
            self.assertEqual(int(text(ds, "NumberOfPatientRelatedSeries")), n_se, f"series of patient {pid}")
            self.assertEqual(int(text(ds, "NumberOfPatientRelatedInstances")), n_in,
                             f"instances of patient {pid}")
        multi = [pid for pid, p in exp.patients.items() if len(p["studies"]) > 1]
        self.assertTrue(multi, "test data should have a patient with several studies (--patients)")

        # Patient Root STUDY level with the PatientID: that patient's studies
        pid = multi[0]
        rsp = self.assertFind(self.findscu(["QueryRetrieveLevel=STUDY", f"PatientID={pid}", "StudyInstanceUID",
                                            "NumberOfStudyRelatedInstances"], model="-P"),
                              len(exp.patients[pid]["studies"]), msg="patient root STUDY with PatientID")
        self.assertEqual({text(ds, "StudyInstanceUID") for ds in rsp}, exp.patients[pid]["studies"])
        # ... and without it: refused (PS3.4 C.4.1.3.1), nothing returned
        r = self.findscu(["QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName"], model="-P")
        self.assertFind(r, 0, status=0xA900, msg="patient root STUDY without PatientID")
        self.assertTrue(r.error_comment, f"no error comment with 0xA900: {r}")
        # Study Root has no PATIENT level
        self.assertFind(self.findscu(["QueryRetrieveLevel=PATIENT", "PatientID"]), 0, status=0xA900,
                        msg="study root PATIENT level")

        # --- matching rules at STUDY level
        def studies(*match_keys, model="-S"):
            r = self.findscu(["QueryRetrieveLevel=STUDY", "StudyInstanceUID", *match_keys], model=model)
            rsp = self.assertFind(r, msg=f"STUDY level {match_keys}")
            return {text(ds, "StudyInstanceUID") for ds in rsp}

        def where(pred):
            return {uid for uid, st in exp.studies.items() if pred(st)}

        compressed = where(lambda st: st["PatientName"].startswith("CompressedSamples"))
        self.assertEqual(len(compressed), 2)
        self.assertEqual(studies("PatientName=CompressedSamples*"), compressed, "wildcard PatientName")
        self.assertEqual(studies("PatientName=compressedsamples*"), compressed,
                         "lower-case pattern must find the upper/mixed-case names (names match case-insensitively)")
        self.assertEqual(studies("PatientName=COMPRESSEDSAMPLES^?T1"),
                         where(lambda st: st["PatientName"] == "CompressedSamples^CT1"), "'?' wildcard")
        self.assertEqual(studies("PatientName=CompressedSamples^CT1"),
                         where(lambda st: st["PatientName"] == "CompressedSamples^CT1"), "single value name")
        self.assertEqual(studies("PatientName=CompressedSamples"), set(), "a name is not a prefix match")
        self.assertEqual(studies("PatientID=1CT1"), where(lambda st: st["PatientID"] == "1CT1"), "PatientID exact")
        self.assertEqual(studies("PatientID=1CT"), set(), "PatientID is single value matching, not prefix")
        self.assertEqual(studies("PatientID=1ct1"), set(), "PatientID is case-sensitive")
        # dates: closed, open-ended and single
        dates = sorted({st["StudyDate"] for st in exp.studies.values() if st["StudyDate"]})
        self.assertGreaterEqual(len(dates), 3)
        lo, hi = dates[1], dates[-2]
        self.assertEqual(studies(f"StudyDate={lo}-{hi}"), where(lambda st: lo <= st["StudyDate"] <= hi),
                         f"StudyDate={lo}-{hi}")
        self.assertEqual(studies(f"StudyDate=-{lo}"), where(lambda st: st["StudyDate"] and st["StudyDate"] <= lo),
                         f"StudyDate=-{lo}")
        self.assertEqual(studies(f"StudyDate={hi}-"), where(lambda st: st["StudyDate"] >= hi), f"StudyDate={hi}-")
        self.assertEqual(studies(f"StudyDate={dates[0]}"), where(lambda st: st["StudyDate"] == dates[0]))
        # a list of UIDs
        some = list(exp.studies)[1:4]
        self.assertEqual(studies("StudyInstanceUID=" + "\\".join(some)), set(some), "UID list")
        # several keys together (AND)
        ct1 = where(lambda st: st["PatientName"] == "CompressedSamples^CT1")
        ct1_date = exp.studies[next(iter(ct1))]["StudyDate"]
        self.assertEqual(studies("PatientName=Compressed*", f"StudyDate={ct1_date}"), ct1)
        # combined date and time range (PS3.4 C.2.2.2.5.2): one range from (date, time) to (date, time)
        def moment(st):
            t = st["StudyTime"].split(".")
            return st["StudyDate"] + t[0].ljust(6, "0") + "." + (t[1] if len(t) > 1 else "").ljust(6, "0")
        dated = sorted((st for st in exp.studies.values() if st["StudyDate"] and st["StudyTime"]), key=moment)

        def pivot(combined, independent):
            """A study whose (date, time) makes the combined range differ from two separate ranges."""
            for st in dated:
                d, t = st["StudyDate"], st["StudyTime"].split(".")[0]
                if where(lambda x: x in dated and combined(x, d, t)) != where(lambda x: x in dated and
                                                                            independent(x, d, t)):
                    return d, t
            self.fail("test data has no study that tells a combined date-time range from separate ranges")

        def hhmmss(x):
            return x["StudyTime"].split(".")[0].ljust(6, "0")

        d, t = pivot(lambda x, d, t: moment(x) >= d + t + ".000000",
                     lambda x, d, t: x["StudyDate"] >= d and hhmmss(x) >= t)
        self.assertEqual(studies(f"StudyDate={d}-", f"StudyTime={t}-"),
                         where(lambda st: st in dated and moment(st) >= d + t + ".000000"),
                         f"StudyDate={d}- StudyTime={t}- (one combined range)")
        d, t = pivot(lambda x, d, t: moment(x)[:14] <= d + t,
                     lambda x, d, t: x["StudyDate"] <= d and hhmmss(x) <= t)
        self.assertEqual(studies(f"StudyDate=-{d}", f"StudyTime=-{t}"),
                         where(lambda st: st in dated and moment(st)[:14] <= d + t),
                         f"StudyDate=-{d} StudyTime=-{t} (one combined range)")
        # ModalitiesInStudy as a matching key at STUDY level
        self.assertEqual(studies("ModalitiesInStudy=MR"),
                         where(lambda st: "MR" in {se["Modality"] for se in st["series"].values()}),
                         "ModalitiesInStudy=MR")

        # an optional key Bastion does not support: pending 0xFF01, the key returned empty
        r = self.findscu(["QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientComments",
                          "PatientID=1CT1"])
        self.assertTrue(h.association_accepted(r.out))
        self.assertEqual(r.statuses, [0xFF01, 0x0000], f"unsupported optional key: {r}")
        rsp = r.datasets()
        self.assertEqual(len(rsp), 1)
        self.assertIn("PatientComments", rsp[0])
        self.assertEqual(text(rsp[0], "PatientComments"), "")

        b.stop()
        err = "\n".join(s.stderr_text() for s in b.servers)
        for name in ("CompressedSamples", "SYNTH^PATIENT"):
            self.assertNotIn(name, err, f"PHI {name!r} in the server's ordinary log")

    # ------------------------------------------------------------------------
    # 2. Specific Character Set

    def test_find_character_sets(self):
        self.start_bastion()
        files = [os.path.join(CHARSET_FILES, n) for n in CHARSET_SAMPLES]
        self.store(files)

        def names(key, value, charset="ISO_IR 192", encoding="utf-8", level="STUDY"):
            """findscu with a PatientName key in the given character set; {PatientID: decoded name}."""
            keys = [f"QueryRetrieveLevel={level}", f"SpecificCharacterSet={charset}", "PatientID",
                    f"{key}=".encode("ascii") + value.encode(encoding)]
            if key != "PatientName":
                keys.append("PatientName")
            r = self.findscu(keys, model="-P" if level == "PATIENT" else "-S")
            rsp = self.assertFind(r, msg=f"{key}={value!r} in {charset}")
            out = {}
            for ds in rsp:
                self.assertIn("PatientName", ds)
                try:
                    out[text(ds, "PatientID")] = str(ds.PatientName)
                except Exception as e:  # undecodable answer
                    self.fail(f"answer to {value!r} not decodable ({text(ds, 'SpecificCharacterSet')}): {e}")
            return out, rsp

        # Japanese, ideographic group, asked in UTF-8 (ISO 2022 IR 87 in the files)
        got, rsp = names("PatientName", "山田*")
        self.assertEqual(set(got), {"H31EXAMPLE", "H32EXAMPLE"}, f"PatientName=山田*: {got}")
        self.assertEqual(got["H31EXAMPLE"], "Yamada^Tarou=山田^太郎=やまだ^たろう")
        self.assertEqual(got["H32EXAMPLE"], "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう")
        for ds in rsp:
            self.assertTrue(text(ds, "SpecificCharacterSet"), "non-ASCII answer without SpecificCharacterSet")
        # the phonetic group
        got, _ = names("PatientName", "やまだ*")
        self.assertEqual(set(got), {"H31EXAMPLE", "H32EXAMPLE"}, f"PatientName=やまだ*: {got}")
        # the alphabetic group of the same name, case-insensitively
        got, _ = names("PatientName", "yamada*")
        self.assertEqual(set(got), {"H31EXAMPLE"}, f"PatientName=yamada*: {got}")
        # Korean (ISO 2022 IR 149)
        got, _ = names("PatientName", "洪*")
        self.assertEqual(got, {"I2EXAMPLE": "Hong^Gildong=洪^吉洞=홍^길동"})
        # Chinese: UTF-8 file and GB18030 file, simplified vs traditional
        got, _ = names("PatientName", "王^小东")
        self.assertEqual(got, {"X2EXAMPLE": "Wang^XiaoDong=王^小东"}, "GB18030 name")
        got, _ = names("PatientName", "王*")
        self.assertEqual(got, {"X1EXAMPLE": "Wang^XiaoDong=王^小東", "X2EXAMPLE": "Wang^XiaoDong=王^小东"})
        # Greek (ISO_IR 126 in the file), exact and lower case
        got, _ = names("PatientName", "Διονυσιος")
        self.assertEqual(got, {"SCSGREEK": "Διονυσιος"})
        got, _ = names("PatientName", "διονυσ*")
        self.assertEqual(got, {"SCSGREEK": "Διονυσιος"}, "lower-case Greek pattern")
        # Russian (ISO_IR 144 in the file)
        got, _ = names("PatientName", "Люк*")
        self.assertEqual(got, {"SCSRUSS": "Люкceмбypг"})
        got, _ = names("PatientName", "люк*")
        self.assertEqual(got, {"SCSRUSS": "Люкceмбypг"}, "lower-case Cyrillic pattern")
        # Latin-1, German and French
        got, _ = names("PatientName", "äneas*")
        self.assertEqual(got, {"SCSGERM": "Äneas^Rüdiger"})
        # Arabic and Hebrew
        got, _ = names("PatientName", "قباني*")
        self.assertEqual(got, {"SCSARAB": "قباني^لنزار"})
        got, _ = names("PatientName", "שרון^דבורה")
        self.assertEqual(got, {"SCSHBRW": "שרון^דבורה"})

        # the query in a single-byte character set: answered decodably (in that set or in UTF-8)
        got, rsp = names("PatientName", "Διον*", charset="ISO_IR 126", encoding="iso8859-7")
        self.assertEqual(got, {"SCSGREEK": "Διονυσιος"}, "query sent in ISO_IR 126")
        got, rsp = names("PatientName", "Люк*", charset="ISO_IR 144", encoding="iso8859-5")
        self.assertEqual(got, {"SCSRUSS": "Люкceмбypг"}, "query sent in ISO_IR 144")
        got, rsp = names("PatientName", "Buc^Jérôme", charset="ISO_IR 100", encoding="latin-1")
        self.assertEqual(got, {"SCSFREN": "Buc^Jérôme"}, "query sent in ISO_IR 100")
        self.assertEqual(text(rsp[0], "SpecificCharacterSet"), "ISO_IR 100",
                         "a Latin-1 query whose answer fits Latin-1 should be answered in ISO_IR 100")

        # PATIENT level in Patient Root, Japanese
        got, _ = names("PatientName", "山田^太郎", level="PATIENT")
        self.assertEqual(set(got), {"H31EXAMPLE", "H32EXAMPLE"}, "PATIENT level, ideographic exact")
        # everything returned is decodable (universal query)
        r = self.findscu(["QueryRetrieveLevel=STUDY", "PatientName", "PatientID"])
        rsp = self.assertFind(r, n=len(files), msg="all charset studies")
        decoded = {text(ds, "PatientID"): str(ds.PatientName) for ds in rsp}
        for f in files:
            src = read_ds(f, stop_before_pixels=True)
            self.assertEqual(decoded.get(text(src, "PatientID")), str(src.PatientName),
                             f"{os.path.basename(f)}: name returned differs from the stored one")

    # ------------------------------------------------------------------------
    # 3. The C-FIND bound

    def test_find_bounded_by_max_matches(self):
        b = self.start_bastion(config={("query", "max_matches"): "3"})
        files = self.synth("s", studies=5, series=1, instances=1, rows=8, cols=8, seed=201)
        self.store(files)
        exp = Expected(files)

        r = self.findscu(["QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName"])
        self.assertFind(r, 3, status=0xA700, msg="5 studies, max_matches=3")
        self.assertTrue(r.error_comment, f"0xA700 without an error comment: {r}")
        self.assertEqual(len({text(ds, "StudyInstanceUID") for ds in r.datasets()}), 3, "3 distinct studies")

        r = self.findscu(["QueryRetrieveLevel=PATIENT", "PatientName=*"], model="-P")
        self.assertFind(r, 3, status=0xA700, msg="PatientName=* at PATIENT level, max_matches=3")

        # exactly max_matches matches: a plain success
        three = list(exp.studies)[:3]
        r = self.findscu(["QueryRetrieveLevel=STUDY", "StudyInstanceUID=" + "\\".join(three)])
        self.assertFind(r, 3, status=0x0000, msg="exactly max_matches matches")
        b.stop()

        queries = [rec for rec in b.audit_records() if rec.get("type") == "query"]
        self.assertEqual(len(queries), 3, f"query records: {queries}")
        first = queries[0]["details"]
        self.assertEqual(first.get("matches"), 3, first)
        self.assertIs(first.get("truncated"), True, f"audit record of the bounded query: {first}")
        self.assertIs(queries[1]["details"].get("truncated"), True, queries[1])
        self.assertIs(queries[2]["details"].get("truncated"), False, queries[2])
        self.assertEqual(b.audit_verify().returncode, 0)

    # ------------------------------------------------------------------------
    # 4. C-GET

    def test_get_study_byte_identical(self):
        b = self.start_bastion()
        files = self.synth("s", studies=2, series=2, instances=3, rows=16, cols=16, seed=301)
        self.store(files)
        exp = Expected(files)
        study = next(iter(exp.studies))
        want = exp.study_instances(study)

        r = self.getscu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"])
        self.assertEqual(r.final_status, 0x0000, f"C-GET of a study: {r}\n{r.out[-3000:]}")
        self.assertEqual(r.counts()["Completed"], len(want), f"completed sub-operations: {r.counts()}")
        self.assertIn(r.counts()["Failed"], (0, None))
        self.assertEqual(r.pending, len(want) - 1, "one pending response per sub-operation but the last")
        got = self.assertRetrievedIdentical(r.outdir, want, "C-GET study")
        for uid, path in got.items():  # also the very bytes of the source files (storescu sent them as-is)
            self.assertEqual(h.dataset_bytes(path), h.dataset_bytes(exp.instances[uid]), f"{uid} vs source file")

        # SERIES level and IMAGE level in Patient Root
        pid = exp.studies[study]["PatientID"]
        se_uid, se = next(iter(exp.studies[study]["series"].items()))
        r = self.getscu(["QueryRetrieveLevel=SERIES", f"PatientID={pid}", f"StudyInstanceUID={study}",
                         f"SeriesInstanceUID={se_uid}"], model="-P")
        self.assertEqual(r.final_status, 0x0000, f"C-GET of a series: {r}")
        self.assertRetrievedIdentical(r.outdir, se["instances"], "C-GET series (patient root)")
        two = sorted(se["instances"])[:2]
        r = self.getscu(["QueryRetrieveLevel=IMAGE", f"StudyInstanceUID={study}", f"SeriesInstanceUID={se_uid}",
                         "SOPInstanceUID=" + "\\".join(two)])
        self.assertEqual(r.final_status, 0x0000, f"C-GET of two images: {r}")
        self.assertRetrievedIdentical(r.outdir, set(two), "C-GET image list")

        # a retrieve names what it wants: no StudyInstanceUID -> refused, nothing sent
        r = self.getscu(["QueryRetrieveLevel=STUDY", "PatientName=*"])
        self.assertTrue(h.is_failure(r.final_status), f"C-GET without the unique key: {r}")
        self.assertEqual(r.files(), [], "objects sent for a refused C-GET")
        # an unknown study: nothing, and no failure counted
        r = self.getscu(["QueryRetrieveLevel=STUDY", "StudyInstanceUID=1.2.3.4.5.6.7.8.9"])
        self.assertEqual(r.final_status, 0x0000, f"C-GET of an unknown study: {r}")
        self.assertEqual(r.files(), [])
        b.stop()

    def decompressed_reference(self, src, tool):
        out = os.path.join(self.tmp, os.path.basename(src) + f".{tool}.dcm")
        p = h.run([tool, src, out], transcript=self.transcript)
        self.assertEqual(p.returncode, 0, f"{tool} failed: {p.out}")
        return read_ds(out)

    def assertDecompressed(self, got_path, src, tool, what):
        ds = read_ds(got_path)
        ts = str(ds.file_meta.TransferSyntaxUID)
        self.assertIn(ts, UNCOMPRESSED, f"{what}: sent in {ts} although only uncompressed syntaxes were accepted")
        ref = self.decompressed_reference(src, tool)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        size = ds.Rows * ds.Columns * ds.SamplesPerPixel * (ds.BitsAllocated // 8) * frames
        self.assertIn("PixelData", ds, f"{what}: no pixel data")
        self.assertGreaterEqual(len(ds.PixelData), size, f"{what}: pixel data too short")
        self.assertEqual(ds.PixelData[:size], ref.PixelData[:size],
                         f"{what}: decompressed pixels differ from DCMTK's {tool}")
        orig = read_ds(src, stop_before_pixels=True)
        for k in ("SOPInstanceUID", "SOPClassUID", "PatientName", "StudyInstanceUID", "Rows", "Columns"):
            self.assertEqual(text(ds, k), text(orig, k), f"{what}: {k}")

    def test_get_compressed_objects(self):
        b = self.start_bastion()
        self.store([MR_RLE, JPEG_LOSSY])
        stored = b.objects()
        rle_uid = h.sop_info(MR_RLE)[1]
        self.assertEqual(h.file_meta(stored[rle_uid])[2], "1.2.840.10008.1.2.5", "RLE object stored as RLE")

        for src, tool in ((MR_RLE, "dcmdrle"), (JPEG_LOSSY, "dcmdjpeg")):
            study = str(read_ds(src, stop_before_pixels=True).StudyInstanceUID)
            # getscu's default: storage contexts with uncompressed syntaxes only
            r = self.getscu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"])
            self.assertEqual(r.final_status, 0x0000, f"C-GET of {os.path.basename(src)} (uncompressed only): {r}")
            got = h.objects_in_dir(r.outdir)
            uid = h.sop_info(src)[1]
            self.assertEqual(set(got), {uid})
            self.assertDecompressed(got[uid], src, tool, f"C-GET {os.path.basename(src)}")

        # a requester that takes RLE gets the stored bytes as they are
        study = str(read_ds(MR_RLE, stop_before_pixels=True).StudyInstanceUID)
        r = self.getscu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"], extra=["+xr"])
        self.assertEqual(r.final_status, 0x0000, f"C-GET of the RLE object, RLE proposed: {r}")
        self.assertRetrievedIdentical(r.outdir, {rle_uid}, "C-GET RLE as stored")
        b.stop()

    # ------------------------------------------------------------------------
    # 5. C-MOVE

    def test_move_to_registered_node(self):
        b = self.new_bastion()
        b.node_add("WS1", host=h.LOOPBACK, allow="echo,store,find,move")
        self.b = b
        # the destination: storescp, registered with its port and `receive`
        dest_port = h.free_port(exclude=(b.plain_port, b.tls_port))
        b.node_add("DEST", host=h.LOOPBACK, allow="receive", port=dest_port)
        # registered with a port but without `receive`, and listening
        norecv_port = h.free_port(exclude=(b.plain_port, b.tls_port, dest_port))
        b.node_add("NORECV", host=h.LOOPBACK, allow="echo,store", port=norecv_port)
        b.start()
        dest_dir = self.outdir("dest")
        self.spawn(["storescp", "-v", "+B", "-aet", "DEST", "-od", dest_dir, str(dest_port)],
                   stdout_path=dest_dir + ".log")
        norecv_dir = self.outdir("norecv")
        self.spawn(["storescp", "-v", "+B", "-aet", "NORECV", "-od", norecv_dir, str(norecv_port)],
                   stdout_path=norecv_dir + ".log")
        other_port = h.free_port(exclude=(b.plain_port, b.tls_port, dest_port, norecv_port))
        other_dir = self.outdir("other")
        self.spawn(["storescp", "-v", "+B", "-aet", "NOBODY", "-od", other_dir, str(other_port)],
                   stdout_path=other_dir + ".log")
        for p in (dest_port, norecv_port, other_port):
            h.wait_port(p, 15)

        files = self.synth("s", studies=2, series=2, instances=3, rows=16, cols=16, seed=401)
        self.store(files + [MR_RLE])
        exp = Expected(files)
        study = next(iter(exp.studies))
        want = exp.study_instances(study)

        r = self.movescu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"], "DEST")
        self.assertEqual(r.final_status, 0x0000, f"C-MOVE to DEST: {r}\n{r.out[-3000:]}")
        c = r.counts()
        self.assertEqual(c["Completed"], len(want), f"sub-operation counts: {c}")
        self.assertIn(c["Failed"], (0, None))
        self.assertIn(c["Warning"], (0, None))
        self.assertIn(c["Remaining"], (0, None))
        self.assertEqual(r.pending, len(want) - 1)
        # pending responses count down
        remaining = [count_of(m, "Remaining") for m in r.responses[:-1]]
        self.assertEqual(remaining, list(range(len(want) - 1, 0, -1)), "Remaining in the pending responses")
        self.assertRetrievedIdentical(dest_dir, want, "C-MOVE study to DEST")

        # the RLE object to a storescp that accepts only uncompressed syntaxes: decompressed
        rle_study = str(read_ds(MR_RLE, stop_before_pixels=True).StudyInstanceUID)
        r = self.movescu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={rle_study}"], "DEST")
        self.assertEqual(r.final_status, 0x0000, f"C-MOVE of the RLE object: {r}")
        got = h.objects_in_dir(dest_dir)
        self.assertIn(h.sop_info(MR_RLE)[1], got)
        self.assertDecompressed(got[h.sop_info(MR_RLE)[1]], MR_RLE, "dcmdrle", "C-MOVE RLE to DEST")
        before = set(h.all_files(dest_dir))

        # unregistered destination (even though something listens with that AE title)
        r = self.movescu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"], "NOBODY")
        self.assertEqual(r.final_status, 0xA801, f"C-MOVE to an unregistered AE: {r}")
        self.assertEqual(r.pending, 0)
        self.assertEqual(h.all_files(other_dir), [], "the unregistered destination received objects")
        # registered, but not allowed to receive
        r = self.movescu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"], "NORECV")
        self.assertEqual(r.final_status, 0xA801, f"C-MOVE to a node without `receive`: {r}")
        self.assertEqual(h.all_files(norecv_dir), [], "a node without receive permission received objects")
        # the requester itself (registered without port/receive)
        r = self.movescu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"], "WS1")
        self.assertEqual(r.final_status, 0xA801, f"C-MOVE to WS1 (no port, no receive): {r}")
        self.assertEqual(set(h.all_files(dest_dir)), before)
        for log in (other_dir + ".log", norecv_dir + ".log"):
            with open(log, errors="replace") as f:
                # (a bare "Association Received" is wait_port's probe connection)
                self.assertNotIn("Association Acknowledged", f.read(), f"{log}: Bastion associated with it")
        b.stop()

        moves = [rec for rec in b.audit_records() if rec.get("type") == "retrieve"]
        dests = [(rec["details"].get("destination"), rec.get("outcome")) for rec in moves]
        self.assertIn(("NOBODY", "failure"), dests, f"no failed retrieve record for NOBODY: {dests}")
        self.assertIn(("NORECV", "failure"), dests, f"no failed retrieve record for NORECV: {dests}")
        ok = [rec for rec in moves if rec["details"].get("destination") == "DEST"
              and rec["details"].get("instances") == len(want)]
        self.assertTrue(ok, f"no retrieve record for the move to DEST: {dests}")
        self.assertEqual(set(ok[0]["details"].get("sent", [])), want)
        self.assertEqual(b.audit_verify().returncode, 0)

    def test_move_partial_failure_unreachable_cancel_and_limit(self):
        b = self.new_bastion()
        self.b = b
        b.node_add("WS1", host=h.LOOPBACK, allow="echo,store,find,move,get")
        # DEST: a storescp that takes MR Image Storage only
        dest_port = h.free_port(exclude=(b.plain_port, b.tls_port))
        b.node_add("DEST", host=h.LOOPBACK, allow="receive", port=dest_port)
        # DOWN: registered, allowed to receive, nothing listening
        down_port = h.free_port(exclude=(b.plain_port, b.tls_port, dest_port))
        b.node_add("DOWN", host=h.LOOPBACK, allow="receive", port=down_port)
        b.set_config("query", "max_retrieve_instances", "6")
        b.start()

        ct = self.synth("ct", studies=1, series=1, instances=3, rows=8, cols=8, modality="CT", seed=451)
        first = read_ds(ct[0], stop_before_pixels=True)
        mr = [derived_copy(ct[i], os.path.join(self.tmp, f"mr{i}.dcm"),
                           SeriesInstanceUID=first.SeriesInstanceUID + ".9",
                           SOPInstanceUID=first.SeriesInstanceUID + f".9.{i + 1}", Modality="MR",
                           SOPClassUID="1.2.840.10008.5.1.4.1.1.4") for i in range(2)]
        big = self.synth("big", studies=1, series=1, instances=7, rows=8, cols=8, modality="MR", seed=452)
        self.store(ct + mr + big)
        exp = Expected(ct + mr)
        study = str(first.StudyInstanceUID)
        mr_uids = {h.sop_info(f)[1] for f in mr}
        ct_uids = {h.sop_info(f)[1] for f in ct}

        cfg = h.storescu_config(os.path.join(self.tmp, "mr-only.cfg"), [mr[0]], profile="MRONLY")
        dest_dir = self.outdir("dest")
        self.spawn(["storescp", "-v", "+B", "-xf", cfg[0], cfg[1], "-aet", "DEST", "-od", dest_dir,
                    str(dest_port)], stdout_path=dest_dir + ".log")
        h.wait_port(dest_port, 15)

        # CT sub-operations fail (DEST accepts no CT context), the MR ones still go
        r = self.movescu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"], "DEST")
        self.assertEqual(r.final_status, 0xB000, f"C-MOVE with failed sub-operations: {r}\n{r.out[-3000:]}")
        c = r.counts()
        self.assertEqual((c["Completed"], c["Failed"]), (len(mr_uids), len(ct_uids)), f"counts: {c}")
        self.assertRetrievedIdentical(dest_dir, mr_uids, "MR instances of the partly failed move")

        # an unreachable destination: sub-operations cannot be performed
        r = self.movescu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"], "DOWN")
        self.assertEqual(r.final_status, 0xA702, f"C-MOVE to a registered node that is down: {r}")
        self.assertEqual(r.counts()["Failed"], len(exp.instances), f"counts: {r.counts()}")

        # more instances than max_retrieve_instances: refused, nothing sent
        big_study = str(read_ds(big[0], stop_before_pixels=True).StudyInstanceUID)
        r = self.getscu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={big_study}"])
        self.assertTrue(h.is_failure(r.final_status), f"C-GET of 7 instances, max_retrieve_instances=6: {r}")
        self.assertEqual(r.files(), [])
        r = self.getscu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"])
        self.assertEqual(r.final_status, 0x0000, f"C-GET of 5 instances, max_retrieve_instances=6: {r}")

        # C-MOVE + C-CANCEL in one write: the final status is Cancel and the association goes on
        before = len(h.all_files(dest_dir))
        identifier = implicit_elements([(0x00080052, b"STUDY "), (0x0020000D, h._ui(study))])
        scu = QrSCU(b.plain_port, "WS1")
        try:
            res = scu.associate([(h.UID_VERIFICATION, [h.TS_IMPLICIT_LE]), (STUDY_ROOT_MOVE, [h.TS_IMPLICIT_LE])])
            self.assertEqual(res.kind, "accepted", res)
            pending, status, counts = scu.move_all(3, "DEST", identifier, cancel=True)
            self.assertEqual(status, 0xFE00, f"C-MOVE after C-CANCEL: {h.fmt_status(status)}, {counts}")
            received = len(h.all_files(dest_dir)) - before
            self.assertEqual(received, counts.get("Completed") or 0, f"received {received}, counts {counts}")
            self.assertLess(received, len(mr_uids))
            pending, status, counts = scu.move_all(3, "DEST", identifier)
            self.assertEqual(status, 0xB000, f"the same C-MOVE again, not cancelled: {h.fmt_status(status)}")
            self.assertEqual(counts.get("Completed"), len(mr_uids), counts)
            self.assertEqual(scu.c_echo(1), 0)
            self.assertTrue(scu.release())
        finally:
            scu.close()
        b.stop()

        records = [rec["details"] for rec in b.audit_records() if rec.get("type") == "retrieve"]
        partly = [d for d in records if d.get("destination") == "DEST" and d.get("failed") == len(ct_uids)]
        self.assertTrue(partly, f"no audit record of the partly failed move: {records}")
        self.assertEqual(set(partly[0].get("failed_instances", [])), ct_uids)
        self.assertEqual(set(partly[0].get("sent", [])), mr_uids)
        self.assertTrue(any(d.get("destination") == "DOWN" and d.get("error") for d in records),
                        f"no audit record of the move to DOWN with its error: {records}")
        self.assertTrue(any(d.get("cancelled") is True for d in records), f"no cancelled retrieve: {records}")
        self.assertEqual(b.audit_verify().returncode, 0)

    # ------------------------------------------------------------------------
    # 6. Permissions

    def test_permissions_refused_per_service(self):
        b = self.new_bastion()
        self.b = b
        b.node_add("WS1", host=h.LOOPBACK, allow="echo,store,find,move,get")
        b.node_add("STOREONLY", host=h.LOOPBACK, allow="echo,store")
        b.node_add("FINDONLY", host=h.LOOPBACK, allow="echo,find")
        dest_port = h.free_port(exclude=(b.plain_port, b.tls_port))
        b.node_add("DEST", host=h.LOOPBACK, allow="receive", port=dest_port)
        b.start()
        dest_dir = self.outdir("dest")
        self.spawn(["storescp", "-v", "+B", "-aet", "DEST", "-od", dest_dir, str(dest_port)],
                   stdout_path=dest_dir + ".log")
        h.wait_port(dest_port, 15)
        files = self.synth("s", studies=1, series=1, instances=2, rows=8, cols=8, seed=501)
        self.store(files)
        study = next(iter(Expected(files).studies))
        find_keys = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName"]
        ret_keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"]

        def refused(r, what):
            service = re.search(r"C-(FIND|GET|MOVE)", what).group(1)
            qr = {a for a in accepted_contexts(r.out) if a.startswith("=" + service)}
            self.assertEqual(qr, set(), f"{what}: the {service} context was accepted\n{r.out[-2000:]}")
            self.assertTrue("No Acceptable Presentation Contexts" in r.out or "No valid Presentation Context" in r.out,
                            f"{what}: the tool did not fail for want of a context\n{r.out[-2000:]}")
            self.assertEqual(r.responses, [], f"{what}: responses received")
            self.assertEqual(r.files(), [], f"{what}: data returned")

        refused(self.findscu(find_keys, aet="STOREONLY"), "C-FIND from a node without find")
        refused(self.findscu(["QueryRetrieveLevel=PATIENT", "PatientName=*"], model="-P", aet="STOREONLY"),
                "patient root C-FIND from a node without find")
        refused(self.getscu(ret_keys, aet="STOREONLY"), "C-GET from a node without get")
        refused(self.movescu(ret_keys, "DEST", aet="STOREONLY"), "C-MOVE from a node without move")
        # find alone: the query works, retrieves do not
        self.assertFind(self.findscu(find_keys, aet="FINDONLY"), 1, msg="C-FIND from FINDONLY")
        refused(self.getscu(ret_keys, aet="FINDONLY"), "C-GET from a node with find only")
        refused(self.movescu(ret_keys, "DEST", aet="FINDONLY"), "C-MOVE from a node with find only")
        self.assertEqual(h.all_files(dest_dir), [], "objects reached DEST for a refused C-MOVE")
        # the fully allowed node can do all three
        self.assertFind(self.findscu(find_keys), 1, msg="C-FIND from WS1")
        self.assertEqual(self.getscu(ret_keys).final_status, 0x0000)
        self.assertEqual(self.movescu(ret_keys, "DEST").final_status, 0x0000)
        self.assertEqual(len(h.objects_in_dir(dest_dir)), len(files))
        b.stop()

    # ------------------------------------------------------------------------
    # 7. The 2019 leak query from a stranger

    def test_leak_query_from_unknown_ae_plain_and_tls(self):
        b = self.start_bastion()
        tls = b.node_cert("WS1")
        self.store([CT, MR])
        leak = ["QueryRetrieveLevel=PATIENT", "PatientName=*", "PatientID"]

        r = self.findscu(leak, model="-P", aet="INTRUDER")
        self.assertRejected(r.proc, h.REASON_CALLING_AE, "plain findscu from INTRUDER")
        self.assertEqual(r.responses, [])
        self.assertEqual(r.files(), [])

        # TLS with a valid client certificate (WS1's) but an unregistered calling AE
        r = self.findscu(leak, model="-P", aet="INTRUDER", tls=tls)
        self.assertNoAssociation(r.proc, "TLS findscu from INTRUDER with WS1's certificate")
        self.assertEqual(r.responses, [])
        self.assertEqual(r.files(), [], "patients disclosed over TLS to an unknown AE")
        # the same with study root and at STUDY level
        r = self.findscu(["QueryRetrieveLevel=STUDY", "PatientName=*", "StudyInstanceUID"], aet="INTRUDER",
                         tls=tls)
        self.assertNoAssociation(r.proc, "TLS study root findscu from INTRUDER")
        self.assertEqual(r.files(), [])

        # sanity: WS1 over TLS is answered
        r = self.findscu(leak, model="-P", tls=tls)
        self.assertFind(r, 2, msg="WS1 over TLS")
        b.stop()
        text_ = b.audit_text()
        self.assertIn("INTRUDER", text_, "the refused associations are not in the audit log")
        queries = [rec for rec in b.audit_records() if rec.get("type") == "query"]
        self.assertTrue(all(rec["actor"]["id"] == "WS1" for rec in queries),
                        f"a query was processed for someone else than WS1: {queries}")

    # ------------------------------------------------------------------------
    # 8. Audit

    def test_audit_records_for_find_and_get(self):
        b = self.start_bastion()
        files = self.synth("s", studies=2, series=1, instances=3, rows=8, cols=8, seed=601)
        self.store(files)
        exp = Expected(files)
        study, st = next(iter(exp.studies.items()))
        pid = st["PatientID"]

        r = self.findscu(["QueryRetrieveLevel=STUDY", f"PatientID={pid}", "StudyInstanceUID", "PatientName"])
        self.assertFind(r, 1, msg="find by PatientID")
        g = self.getscu(["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"])
        self.assertEqual(g.final_status, 0x0000, f"{g}")
        b.stop()

        v = b.audit_verify()
        self.assertEqual(v.returncode, 0, f"audit verify: {v.out}")
        records = b.audit_records()
        queries = [rec for rec in records if rec.get("type") == "query"]
        self.assertEqual(len(queries), 1, f"query records: {queries}")
        q = queries[0]
        self.assertEqual(q.get("outcome"), "success")
        self.assertEqual(q["actor"]["id"], "WS1")
        d = q["details"]
        self.assertEqual(d.get("model"), "study-root")
        self.assertEqual(d.get("level"), "STUDY")
        self.assertEqual(d.get("keys", {}).get("PatientID"), pid, f"query keys in the audit record: {d}")
        self.assertIn("StudyInstanceUID", d.get("keys", {}))
        self.assertEqual(d.get("matches"), 1)
        self.assertIs(d.get("truncated"), False)

        retrieves = [rec for rec in records if rec.get("type") == "retrieve"]
        self.assertEqual(len(retrieves), 1, f"retrieve records: {retrieves}")
        rd = retrieves[0]["details"]
        self.assertEqual(retrieves[0].get("outcome"), "success")
        self.assertEqual(retrieves[0]["actor"]["id"], "WS1")
        self.assertEqual(rd.get("operation"), "get")
        self.assertEqual(rd.get("keys", {}).get("StudyInstanceUID"), study)
        self.assertEqual(rd.get("instances"), len(exp.study_instances(study)))
        self.assertEqual(rd.get("completed"), len(exp.study_instances(study)))
        self.assertEqual(rd.get("failed"), 0)
        self.assertEqual(set(rd.get("sent", [])), exp.study_instances(study), "instances listed as sent")

    # ------------------------------------------------------------------------
    # 9. C-CANCEL

    def test_find_cancel(self):
        b = self.start_bastion()
        files = self.synth("s", studies=30, series=1, instances=1, rows=4, cols=4, seed=701)
        self.store(files)
        identifier = implicit_elements([(0x00080052, b"STUDY "), (0x0020000D, b""), (0x00100010, b"")])

        scu = QrSCU(b.plain_port, "WS1")
        try:
            res = scu.associate([(h.UID_VERIFICATION, [h.TS_IMPLICIT_LE]), (STUDY_ROOT_FIND, [h.TS_IMPLICIT_LE])])
            self.assertEqual(res.kind, "accepted", res)
            self.assertEqual(res.contexts.get(3, (None,))[0], 0, f"find context: {res.contexts}")
            # C-FIND-RQ and C-CANCEL-RQ in one write: the server sees the cancel before any answer
            pending, status = scu.find_all(3, identifier, cancel=True)
            self.assertEqual(status, 0xFE00, f"final status after C-CANCEL: {h.fmt_status(status)} "
                                             f"({len(pending)} pending before it)")
            self.assertLess(len(pending), len(files), "all matches sent despite the cancel")
            # the association still works: a full query, then an echo
            pending, status = scu.find_all(3, identifier)
            self.assertEqual(status, 0x0000, h.fmt_status(status))
            self.assertEqual(len(pending), len(files))
            self.assertEqual({str(ds.StudyInstanceUID) for ds in pending}, set(Expected(files).studies))
            self.assertEqual(scu.c_echo(1), 0)
            self.assertTrue(scu.release(), "release after a cancelled C-FIND")
        finally:
            scu.close()

        # findscu --cancel 1: whatever the race, a proper final status and no hang
        r = self.findscu(["QueryRetrieveLevel=STUDY", "StudyInstanceUID"], extract=False, extra=["--cancel", "1"])
        self.assertIn(r.final_status, (0xFE00, 0x0000), f"findscu --cancel 1: {r}")
        if r.final_status == 0xFE00:
            self.assertLess(r.pending, len(files))
        else:
            self.assertEqual(r.pending, len(files))
        self.assertEqual(r.rc, 0, r.out[-2000:])
        b.stop()
        self.assertEqual(b.audit_verify().returncode, 0)


if __name__ == "__main__":
    unittest.main()
