"""Bad input: truncated datasets, datasets without (or with wrong) UIDs,
objects over the size limit, garbage bytes on both DICOM ports, and
`bastion import` of a folder with good and bad files. Each gets a clear
refusal, the server keeps serving, nothing is half-stored."""

import os
import re
import shutil
import socket
import ssl
import struct
import time
import unittest
import warnings

import pydicom

import harness as h

CT = os.path.join(h.PYDICOM_TEST_FILES, "CT_small.dcm")        # 39 kB, explicit VR LE
MR = os.path.join(h.PYDICOM_TEST_FILES, "MR_small.dcm")        # 10 kB, explicit VR LE
DEFLATED = os.path.join(h.PYDICOM_TEST_FILES, "image_dfl.dcm")  # deflated explicit VR LE


class BadInputTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        self.b = self.new_bastion()
        self.b.node_add("MODALITY1", host="127.0.0.1", allow="echo,store")
        self.tls = None

    def start(self):
        self.b.start()

    def assertStillServing(self, why):
        self.assertTrue(self.b.server.alive(), f"server died after {why}")
        self.assertEchoOk(self.b.echo("MODALITY1"), f"(plain) after {why}")
        if self.tls is not None:
            self.assertEchoOk(self.b.echo("MODALITY1", tls=self.tls), f"(TLS) after {why}")

    def assertNothingHalfStored(self, allowed=()):
        objects = self.b.objects()
        extra = set(objects) - set(allowed)
        self.assertEqual(extra, set(), f"unexpected objects stored: {[objects[u] for u in extra]}")
        self.assertEqual(self.b.staging_leftovers(), [], "files left in blobs/staging")

    def raw_store(self, sop_class, sop_instance, ts, dataset, last_flag=True):
        scu, res = h.mini_associate(self.b.plain_port, "MODALITY1", contexts=[(sop_class, [ts])])
        self.assertEqual(res.kind, "accepted", f"association for raw C-STORE: {res}")
        self.assertEqual(res.contexts.get(1, (None,))[0], 0, f"context for {sop_class}/{ts}: {res.contexts}")
        status = scu.c_store(1, sop_class, sop_instance, dataset, last_flag=last_flag)
        scu.release()
        return status

    def store_files(self, files):
        cfg = h.storescu_config(os.path.join(self.tmp, "scu.cfg"), files)
        p = self.b.store("MODALITY1", files, config=cfg)
        return p, {r["file"]: r["status"] for r in h.parse_storescu(p.out)}

    # ------------------------------------------------------------------

    def test_truncated_dataset_refused(self):
        self.start()
        cls, inst, ts = h.sop_info(CT)
        data = h.dataset_bytes(CT)
        cut = (len(data) // 2) & ~1
        status = self.raw_store(cls, inst, ts, data[:cut])
        self.assertTrue(h.is_failure(status),
                        f"truncated dataset (first {cut} of {len(data)} bytes, last fragment flagged): "
                        f"expected a DIMSE failure status, got {h.fmt_status(status)}")
        # cut early, inside an element of the header (even length: odd PDV lengths are a protocol error)
        status = self.raw_store(cls, inst, ts, data[:300])
        self.assertTrue(h.is_failure(status), f"dataset cut at byte 300: got {h.fmt_status(status)}")
        self.assertNothingHalfStored()
        self.assertStillServing("truncated datasets")

        # a file cut in half on disk, given to storescu: never a success
        half = os.path.join(self.tmp, "MR_half.dcm")
        with open(MR, "rb") as f:
            blob = f.read()
        with open(half, "wb") as f:
            f.write(blob[:len(blob) // 2])
        p = self.b.store("MODALITY1", [half])
        self.assertFalse(any(r["status"] == 0 for r in h.parse_storescu(p.out)), p.out[-3000:])
        self.assertNothingHalfStored()

        # the complete object afterwards is stored, bit-identical
        status = self.raw_store(cls, inst, ts, data)
        self.assertEqual(status, 0, f"complete CT after the truncated attempts: {h.fmt_status(status)}")
        objects = self.b.objects()
        self.assertIn(inst, objects)
        self.assertEqual(h.dataset_bytes(objects[inst]), data)
        self.assertStillServing("a good store")
        self.b.stop()
        self.assertEqual(self.b.audit_verify().returncode, 0)

    def test_dataset_without_uids_refused(self):
        self.start()
        cls, inst, ts = h.sop_info(CT)

        # (a) no Study/Series Instance UID: storescu can still send it
        ds = pydicom.dcmread(CT)
        del ds.StudyInstanceUID
        del ds.SeriesInstanceUID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.9.7433.2.1"
        no_study = os.path.join(self.tmp, "no_study_uid.dcm")
        ds.save_as(no_study, write_like_original=False)

        # (b) malformed Study Instance UID
        ds = pydicom.dcmread(CT)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom rightly complains about the UID
            ds.StudyInstanceUID = "1.2.3.abc.4"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.9.7433.2.2"
        bad_study = os.path.join(self.tmp, "malformed_study_uid.dcm")
        ds.save_as(bad_study, write_like_original=False)

        p, statuses = self.store_files([no_study, bad_study])
        for f in (no_study, bad_study):
            self.assertIn(f, statuses, f"storescu did not send {f}:\n{p.out[-3000:]}")
            self.assertTrue(h.is_failure(statuses[f]),
                            f"{os.path.basename(f)}: expected a failure status, got {h.fmt_status(statuses[f])}")

        # (c) dataset without SOP Instance UID (the command names one)
        ds = pydicom.dcmread(CT)
        del ds.SOPInstanceUID
        no_sop = os.path.join(self.tmp, "no_sop_uid.dcm")
        ds.save_as(no_sop, write_like_original=False)
        status = self.raw_store(cls, "1.2.826.0.1.3680043.9.7433.2.3", ts, h.dataset_bytes(no_sop))
        self.assertTrue(h.is_failure(status), f"dataset without SOP Instance UID: {h.fmt_status(status)}")

        # (d) dataset with no UIDs at all
        ds = pydicom.dcmread(CT)
        for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID",
                   "FrameOfReferenceUID"):
            if kw in ds:
                delattr(ds, kw)
        no_uids = os.path.join(self.tmp, "no_uids.dcm")
        ds.save_as(no_uids, write_like_original=False)
        status = self.raw_store(cls, "1.2.826.0.1.3680043.9.7433.2.4", ts, h.dataset_bytes(no_uids))
        self.assertTrue(h.is_failure(status), f"dataset without any UID: {h.fmt_status(status)}")

        # (e) dataset's SOP Instance UID disagrees with the command
        status = self.raw_store(cls, "1.2.826.0.1.3680043.9.7433.2.5", ts, h.dataset_bytes(CT))
        self.assertTrue(h.is_failure(status), f"SOP Instance UID differs from the command: {h.fmt_status(status)}")

        # (f) command with a malformed SOP Instance UID
        status = self.raw_store(cls, "1.2.3..4", ts, h.dataset_bytes(CT))
        self.assertTrue(h.is_failure(status), f"malformed SOP Instance UID in the command: {h.fmt_status(status)}")

        # (g) not a storage SOP class (Verification as the affected SOP class of a C-STORE)
        scu, res = h.mini_associate(self.b.plain_port, "MODALITY1",
                                    contexts=[(h.UID_VERIFICATION, [h.TS_EXPLICIT_LE])])
        self.assertEqual(res.kind, "accepted", res)
        status = scu.c_store(1, h.UID_VERIFICATION, inst, h.dataset_bytes(CT))
        scu.release()
        self.assertTrue(status is None or h.is_failure(status),
                        f"C-STORE on the Verification context: {h.fmt_status(status)}")

        self.assertNothingHalfStored()
        self.assertStillServing("datasets without UIDs")
        self.b.stop()
        self.assertEqual(self.b.audit_verify().returncode, 0)
        audit = self.b.audit_text()
        for uid in ("1.2.826.0.1.3680043.9.7433.2.1", "1.2.826.0.1.3680043.9.7433.2.5"):
            self.assertIn(uid, audit, f"no audit record of the refused store of {uid}")

    def test_oversized_object_refused(self):
        self.b.set_config("storage", "max_object_bytes", "20000")
        self.start()
        p, statuses = self.store_files([CT, MR])
        self.assertTrue(h.is_failure(statuses.get(CT)),
                        f"CT_small (39 kB) over a 20000-byte limit: {h.fmt_status(statuses.get(CT))}\n"
                        f"{p.out[-3000:]}")
        self.assertEqual(statuses.get(CT), 0xA700, "over the size limit: expected 0xA700 (out of resources), "
                                                   "as bastion.toml documents")
        self.assertEqual(statuses.get(MR), 0, f"MR_small (10 kB) under the limit: {h.fmt_status(statuses.get(MR))}")
        mr_inst = h.sop_info(MR)[1]
        self.assertNothingHalfStored(allowed=[mr_inst])
        self.assertIn(mr_inst, self.b.objects())
        # CT and MR went over one association: the refusal did not end it
        self.assertStillServing("an oversized object")
        self.b.stop()

    def _garbage_round(self, port, payload, use_tls, expect_close_within=15.0):
        """Send payload (bytes or None for connect-and-close) and return how the server reacted."""
        s = socket.create_connection((h.LOOPBACK, port), timeout=10)
        try:
            if use_tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.load_verify_locations(self.tls.ca)
                ctx.load_cert_chain(self.tls.cert, self.tls.key)
                s = ctx.wrap_socket(s, server_hostname="bastion")
            if payload is None:
                return "closed-by-us"
            s.sendall(payload)
            s.settimeout(expect_close_within)
            try:
                got = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        return "closed" if not got else f"closed after {got[:1].hex()} PDU"
                    got += chunk
                    if len(got) > 1 << 20:
                        return "flood"
            except socket.timeout:
                return "still-open"
            except (ConnectionError, ssl.SSLError, OSError):
                return "reset"
        finally:
            s.close()

    def test_garbage_on_dicom_ports(self):
        self.tls = self.b.node_cert("MODALITY1")
        self.start()
        rq_absurd = struct.pack(">BBI", 0x01, 0, 0xFFFFFFF0) + struct.pack(">HH", 1, 0) + b"BASTION".ljust(16)
        rq_short = struct.pack(">BBI", 0x01, 0, 10) + b"\x00" * 10  # A-ASSOCIATE-RQ too short to hold anything
        pdata_first = struct.pack(">BBI", 0x04, 0, 12) + struct.pack(">IBB", 6, 1, 3) + b"\0" * 4  # P-DATA first
        cases = [
            ("random bytes", h.random_bytes(4096, 1)),
            ("A-ASSOCIATE-RQ header with absurd length", rq_absurd),
            ("A-ASSOCIATE-RQ shorter than its fixed fields", rq_short),
            ("P-DATA-TF before any association", pdata_first),
            ("unknown PDU type", struct.pack(">BBI", 0x42, 0, 4) + b"\0\0\0\0"),
            ("HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("connect and close", None),
        ]
        outcomes = []
        for port, use_tls, label in ((self.b.plain_port, False, "plain"), (self.b.tls_port, True, "tls-inner")):
            for name, payload in cases:
                outcome = self._garbage_round(port, payload, use_tls,
                                              expect_close_within=2.0 if "absurd" in name else 15.0)
                outcomes.append((label, name, outcome))
                self.assertTrue(self.b.server.alive(), f"server died after {name} on the {label} port")
        # raw garbage (not TLS at all) on the TLS port
        for name, payload in (("random bytes", h.random_bytes(4096, 2)), ("connect and close", None),
                              ("plain A-ASSOCIATE-RQ", rq_absurd)):
            outcomes.append(("tls-raw", name, self._garbage_round(self.b.tls_port, payload, False,
                                                                  expect_close_within=5.0)))
            self.assertTrue(self.b.server.alive(), f"server died after raw {name} on the TLS port")

        self.assertStillServing("garbage on both ports")
        # garbage that is not a DICOM PDU must be dropped, not left hanging
        hanging = [o for o in outcomes if o[2] == "still-open" and "absurd" not in o[1]]
        self.assertEqual(hanging, [], f"connections left open after garbage: {hanging}\nall: {outcomes}")

        # while a connection announcing a 4 GB A-ASSOCIATE-RQ is held open, others are served
        s = socket.create_connection((h.LOOPBACK, self.b.plain_port), timeout=10)
        try:
            s.sendall(rq_absurd + b"\0" * 1000)
            self.assertEchoOk(self.b.echo("MODALITY1"), "while a bogus 4 GB PDU is pending")
        finally:
            s.close()
        self.assertNothingHalfStored()
        self.assertStillServing("the 4 GB PDU")
        rss = _rss_kb(self.b.server.popen.pid)
        self.assertLess(rss, 512 * 1024, f"server RSS {rss} kB after garbage: did it allocate the absurd PDU?")
        self.b.stop()
        self.assertEqual(self.b.audit_verify().returncode, 0)

    def test_import_folder_with_good_and_bad_files(self):
        folder = os.path.join(self.tmp, "import")
        os.makedirs(os.path.join(folder, "sub", "deeper"))
        good = [CT, MR, DEFLATED]
        shutil.copy(CT, os.path.join(folder, "ct.dcm"))
        shutil.copy(MR, os.path.join(folder, "sub", "mr.dcm"))
        shutil.copy(DEFLATED, os.path.join(folder, "sub", "deeper", "deflated.dcm"))
        bad = {}
        with open(MR, "rb") as f:
            blob = f.read()
        bad["truncated.dcm"] = os.path.join(folder, "sub", "truncated.dcm")
        with open(bad["truncated.dcm"], "wb") as f:
            f.write(blob[:len(blob) // 2])
        bad["notes.txt"] = os.path.join(folder, "notes.txt")
        with open(bad["notes.txt"], "w") as f:
            f.write("not a DICOM file\n")
        ds = pydicom.dcmread(CT)
        del ds.StudyInstanceUID
        del ds.SeriesInstanceUID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.9.7433.3.1"
        bad["no_uids.dcm"] = os.path.join(folder, "sub", "deeper", "no_uids.dcm")
        ds.save_as(bad["no_uids.dcm"], write_like_original=False)

        p = self.b.import_(folder)
        self.assertEqual(p.returncode, 4, f"import with rejected files must exit 4:\n{p.out}")
        m = re.search(r"stored (\d+), duplicates (\d+), rejected (\d+)", p.out)
        self.assertTrue(m, f"no 'stored N, duplicates N, rejected N' summary:\n{p.out}")
        self.assertEqual((int(m.group(1)), int(m.group(2)), int(m.group(3))), (3, 0, 3), p.out)
        for name, path in bad.items():
            self.assertTrue(any(name in line for line in p.out.splitlines() if line.strip()),
                            f"rejected file {name} not listed:\n{p.out}")
        objects = self.b.objects()
        for f in good:
            inst = h.sop_info(f)[1]
            self.assertIn(inst, objects, f"{os.path.basename(f)} not stored by import")
            self.assertEqual(h.dataset_bytes(objects[inst]), h.dataset_bytes(f))
        self.assertEqual(len(objects), 3)
        self.assertEqual(self.b.staging_leftovers(), [])
        for phi in ("CompressedSamples^CT1", "CompressedSamples^MR1"):
            self.assertNotIn(phi, p.out, "PHI in import's output")

        # again: all duplicates now (the bad ones still rejected)
        p = self.b.import_(folder)
        self.assertEqual(p.returncode, 4, p.out)
        m = re.search(r"stored (\d+), duplicates (\d+), rejected (\d+)", p.out)
        self.assertTrue(m, p.out)
        self.assertEqual((int(m.group(1)), int(m.group(2)), int(m.group(3))), (0, 3, 3), p.out)
        # only good files: exit 0
        p = self.b.import_(CT, MR)
        self.assertEqual(p.returncode, 0, p.out)
        self.assertEqual(self.b.audit_verify().returncode, 0)
        # and the server starts on the imported archive
        self.b.start()
        self.assertEchoOk(self.b.echo("MODALITY1"))
        self.b.stop()

    def test_one_address_cannot_exhaust_connections(self):
        # bastion.toml: connection limits exist "so that one peer cannot exhaust the server".
        # One unauthenticated address holding many connections (idle, or after a bogus
        # A-ASSOCIATE-RQ) must not lock registered nodes out.
        self.tls = self.b.node_cert("MODALITY1")
        self.start()
        rq_short = struct.pack(">BBI", 0x01, 0, 10) + b"\x00" * 10
        scenarios = [
            ("plain port, bogus A-ASSOCIATE-RQ, held open", self.b.plain_port, "127.0.0.2", rq_short),
            ("plain port, idle connections", self.b.plain_port, "127.0.0.3", None),
            ("TLS port, idle connections", self.b.tls_port, "127.0.0.4", None),
        ]
        for name, port, source, payload in scenarios:
            with self.subTest(name):
                held = []
                try:
                    for _ in range(100):
                        s = socket.create_connection((h.LOOPBACK, port), timeout=5, source_address=(source, 0))
                        held.append(s)
                        if payload:
                            try:
                                s.sendall(payload)
                            except OSError:
                                pass
                    self.assertTrue(self.b.server.alive(), f"server died: {name}")
                    p = self.b.echo("MODALITY1")
                    self.assertEchoOk(p, f"(plain, from 127.0.0.1) while 100 connections from {source} "
                                         f"are held: {name}")
                    p = self.b.echo("MODALITY1", tls=self.tls)
                    self.assertEchoOk(p, f"(TLS, from 127.0.0.1) while 100 connections from {source} "
                                         f"are held: {name}")
                finally:
                    for s in held:
                        s.close()
                # let the server notice the closed connections before the next scenario
                h.wait_for(lambda: h.echo_ok(self.b.echo("MODALITY1")), 40, interval=0.5,
                           what="echo once the held connections are closed")
        self.assertNothingHalfStored()
        self.b.stop()


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    unittest.main()
