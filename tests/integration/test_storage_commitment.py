"""Storage Commitment Push Model (PS3.4 Annex J) with a real SCU nobody here
wrote: dcmjs-dimse, driven by tests/clients/stgcmt.mjs as a modality runs it.

Images go in with DCMTK's storescu; the modality then asks Bastion to commit
to them and takes the report on the same association, or on a listener of
its own after releasing (over TLS for a TLS-only node). A node that may not
store gets nothing, a store-only node learns nothing of what others sent, and
every malformed request gets a clear status while the server keeps serving.
Debian's Orthanc, acting as a modality's router, sends and asks for
commitment the way it does for any PACS, in a network namespace of the
test's own (Orthanc binds every interface).
"""

import json
import os
import shutil
import unittest

import harness as h
import scan_targets as st

CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients")
CT = "CT_small.dcm"
MR = "MR_small.dcm"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
NOT_HELD = "1.2.826.0.1.3680043.2.1143.424242"


class StorageCommitmentTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.isdir(os.path.join(CLIENTS, "node_modules", "dcmjs-dimse")):
            self.fail("tests/clients/node_modules is missing: run scripts/install-deps.sh test (make test does)")
        self.node = shutil.which("node") or shutil.which("nodejs")
        self.assertIsNotNone(self.node, "node is not installed: run scripts/install-deps.sh test")

    # --- helpers

    def commit(self, b, calling, refs, transaction="1.2.826.0.1.3680043.2.1143.9001", port=None, **extra):
        args = {"port": port or b.plain_port, "calling": calling, "called": b.ae, "transaction": transaction,
                "refs": refs, "linger_ms": 3000, "timeout_ms": 15000}
        args.update(extra)
        p = h.run([self.node, os.path.join(CLIENTS, "stgcmt.mjs"), json.dumps(args)], transcript=self.transcript,
                  cwd=CLIENTS, timeout=60)
        self.assertEqual(p.returncode, 0, p.out)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def store(self, b, aet, *names, tls=None):
        files = [os.path.join(h.PYDICOM_TEST_FILES, n) for n in names]
        p = h.storescu(b.tls_port if tls else b.plain_port, files, aet, tls=tls, transcript=self.transcript)
        self.assertEqual(p.returncode, 0, p.out)
        return {n: h.sop_info(f) for n, f in zip(names, files)}

    def records(self, b, kind):
        return [r for r in b.audit_records() if r["type"] == kind]

    # --- tests

    def test_commitment_answered_on_the_same_association(self):
        b = self.new_bastion()
        b.node_add("CT1", allow="echo,store")
        b.start()
        info = self.store(b, "CT1", CT, MR)
        ct_uid, mr_uid = info[CT][1], info[MR][1]
        got = self.commit(b, "CT1", [[CT_IMAGE, ct_uid], [MR_IMAGE, mr_uid], [CT_IMAGE, NOT_HELD],
                                     [MR_IMAGE, ct_uid]])
        self.assertEqual(got["action_status"], 0, got)
        self.assertEqual(got["errors"], [])
        self.assertEqual(len(got["reports"]), 1, got)
        report = got["reports"][0]
        self.assertEqual(report["via"], "same association")
        self.assertEqual(report["event_type"], 2)  # some failed
        self.assertEqual(report["transaction_uid"], "1.2.826.0.1.3680043.2.1143.9001")
        self.assertEqual(report["retrieve_ae"], "BASTION")
        self.assertEqual(sorted(map(tuple, report["referenced"])), sorted([(CT_IMAGE, ct_uid), (MR_IMAGE, mr_uid)]))
        self.assertEqual(sorted(map(tuple, report["failed"])),
                         sorted([(CT_IMAGE, NOT_HELD, 0x0112), (MR_IMAGE, ct_uid, 0x0119)]))

        # Everything committed: event type 1, no Failed SOP Sequence.
        got = self.commit(b, "CT1", [[CT_IMAGE, ct_uid]], transaction="1.2.826.0.1.3680043.2.1143.9002")
        self.assertEqual(got["reports"][0]["event_type"], 1, got)
        self.assertEqual(got["reports"][0]["failed"], [])

        asked = self.records(b, "storage.commit")
        self.assertEqual([(r["outcome"], r["details"]["committed"], r["details"]["failed"]) for r in asked],
                         [("success", 2, 2), ("success", 1, 0)])
        reports = self.records(b, "storage.commit.report")
        self.assertEqual([(r["outcome"], r["details"]["how"]) for r in reports],
                         [("success", "same association")] * 2)
        # The ordinary log names transactions and counts, never the patient.
        log = b.server.stderr_text()
        self.assertIn("storage commitment 1.2.826.0.1.3680043.2.1143.9001: 2 committed, 2 failed", log)
        self.assertNotIn("CompressedSamples", log)  # the sample files' patient names
        self.assertEqual(b.audit_verify().returncode, 0)
        b.stop()

    def test_store_then_commit_on_one_association(self):
        """What most scanners do: the images, then the request, then wait for the report."""
        b = self.new_bastion()
        b.node_add("CT1", allow="echo,store")
        b.start()
        files = [os.path.join(h.PYDICOM_TEST_FILES, n) for n in (CT, MR)]
        refs = [list(h.sop_info(f)[:2]) for f in files]
        got = self.commit(b, "CT1", refs, store_files=files)
        self.assertEqual(got["store_statuses"], [0, 0], got)
        self.assertEqual(got["action_status"], 0, got)
        self.assertEqual([r["via"] for r in got["reports"]], ["same association"], got)
        self.assertEqual(sorted(got["reports"][0]["referenced"]), sorted(refs))
        self.assertEqual(got["reports"][0]["event_type"], 1)
        self.assertEqual(len(h.stored_objects(b.data)), 2)
        self.assertIn("closed: 2 stored, 0 refused", b.server.stderr_text())
        b.stop()

    def test_report_goes_to_the_modality_listener_when_it_released_first(self):
        b = self.new_bastion()
        listen_port = h.free_port(exclude=(b.tls_port, b.plain_port, b.https_port))
        b.node_add("CT1", allow="echo,store", port=listen_port)
        b.start()
        ct_uid = self.store(b, "CT1", CT)[CT][1]
        got = self.commit(b, "CT1", [[CT_IMAGE, ct_uid], [CT_IMAGE, NOT_HELD]], linger_ms=0,
                          same_association=False, listen_port=listen_port)
        self.assertEqual(got["action_status"], 0, got)
        self.assertEqual(len(got["reports"]), 1, got)
        report = got["reports"][0]
        self.assertEqual(report["via"], "new association")
        self.assertEqual(got["listener_calling"], "BASTION")
        self.assertEqual(got["listener_roles"], [False, True], "Bastion must propose the SCP role (PS3.7 D.3.3.4)")
        self.assertEqual(report["referenced"], [[CT_IMAGE, ct_uid]])
        self.assertEqual(report["failed"], [[CT_IMAGE, NOT_HELD, 0x0112]])
        # Audited once the association with the listener is released, which
        # may be after the modality has the report.
        h.wait_for(lambda: self.records(b, "storage.commit.report"), 10, what="report audit record")
        reports = self.records(b, "storage.commit.report")
        self.assertEqual([(r["outcome"], r["details"]["how"]) for r in reports], [("success", "new association")])
        h.wait_for(lambda: "report delivered to 127.0.0.1:%d on a new association" % listen_port
                   in b.server.stderr_text(), 10, what="delivery logged")
        b.stop()

    def test_report_over_tls_to_a_tls_only_modality(self):
        b = self.new_bastion()
        listen_port = h.free_port(exclude=(b.tls_port, b.plain_port, b.https_port))
        b.node_add("CT1", allow="echo,store", port=listen_port, tls_only=True)
        tls = b.node_cert("CT1")  # with a port and store: valid for its listener too
        p = h.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", tls.ca, tls.cert],
                  transcript=self.transcript)
        self.assertEqual(p.returncode, 0, p.out)
        b.start()
        ct_uid = self.store(b, "CT1", CT, tls=tls)[CT][1]
        files = {"key": tls.key, "cert": tls.cert, "ca": tls.ca}
        # The plain port refuses a TLS-only node: nothing is answered there.
        refused = self.commit(b, "CT1", [[CT_IMAGE, ct_uid]], linger_ms=0, timeout_ms=5000)
        self.assertIsNone(refused["action_status"], refused)
        self.assertEqual(refused["reports"], [])
        self.assertTrue(any("rejected" in e for e in refused["errors"]), refused)
        got = self.commit(b, "CT1", [[CT_IMAGE, ct_uid]], port=b.tls_port, tls=files, linger_ms=0,
                          same_association=False, listen_port=listen_port)
        self.assertEqual(got["action_status"], 0, got)
        self.assertEqual([r["via"] for r in got["reports"]], ["new association"], got)
        self.assertEqual(got["reports"][0]["referenced"], [[CT_IMAGE, ct_uid]])
        # Bastion presented its own certificate to the modality's listener.
        self.assertEqual(got["listener_peer_cn"], "BASTION")
        b.stop()

    def test_who_may_not_store_gets_nothing(self):
        b = self.new_bastion()
        b.node_add("CT1", allow="echo,store")
        b.node_add("VIEWER", allow="echo,find,move,get")
        b.start()
        ct_uid = self.store(b, "CT1", CT)[CT][1]
        before = len(b.audit_records())
        got = self.commit(b, "VIEWER", [[CT_IMAGE, ct_uid]], linger_ms=0, timeout_ms=5000)
        self.assertIsNone(got["action_status"], got)  # no context was accepted: nothing could be asked
        self.assertEqual(got["reports"], [])
        # It did get as far as the server, which refused the context itself.
        self.assertIn("(VIEWER, plain) accepted, 0 presentation contexts", b.server.stderr_text())
        got = self.commit(b, "NOBODY", [[CT_IMAGE, ct_uid]], linger_ms=0, timeout_ms=5000)
        self.assertIsNone(got["action_status"], got)
        self.assertTrue(any("rejected" in e for e in got["errors"]), got)
        new = b.audit_records()[before:]
        self.assertFalse([r for r in new if r["type"].startswith("storage.commit")], new)
        self.assertTrue([r for r in new if r["type"] == "association" and r["outcome"] == "failure"
                         and r["actor"].get("id") == "NOBODY"], new)
        b.stop()

    def test_a_store_only_node_learns_nothing_of_what_others_sent(self):
        b = self.new_bastion()
        b.node_add("CT1", allow="echo,store")
        b.node_add("CT2", allow="echo,store")
        b.node_add("PACS2", allow="echo,store,find")
        b.start()
        ct_uid = self.store(b, "CT1", CT)[CT][1]
        got = self.commit(b, "CT2", [[CT_IMAGE, ct_uid]])
        self.assertEqual(got["reports"][0]["failed"], [[CT_IMAGE, ct_uid, 0x0112]], got)
        self.assertEqual(got["reports"][0]["referenced"], [])
        # One that may find sees the archive anyway.
        got = self.commit(b, "PACS2", [[CT_IMAGE, ct_uid]])
        self.assertEqual(got["reports"][0]["referenced"], [[CT_IMAGE, ct_uid]], got)
        b.stop()

    def test_malformed_requests_get_a_clear_status_and_the_server_keeps_serving(self):
        b = self.new_bastion()
        b.node_add("CT1", allow="echo,store")
        b.start()
        ct_uid = self.store(b, "CT1", CT)[CT][1]
        ref = [[CT_IMAGE, ct_uid]]
        cases = [
            ("no Transaction UID", {"transaction": None}, 0x0120),
            ("a Transaction UID that is not a UID", {"transaction": "1.2.x"}, 0x0106),
            ("no references", {"refs": []}, 0x0120),
            ("action type 2", {"action_type": 2}, 0x0123),
            ("another SOP instance", {"requested_instance": "1.2.3.4"}, 0x0112),
            ("no action information", {"no_dataset": True}, 0x0120),
        ]
        for what, extra, status in cases:
            with self.subTest(what):
                args = {"refs": ref, "linger_ms": 0, "timeout_ms": 8000}
                args.update(extra)
                refs = args.pop("refs")
                got = self.commit(b, "CT1", refs, **args)
                self.assertEqual(got["action_status"], status, got)
                self.assertEqual(got["reports"], [], "a refused request gets no report")
        refused = [r for r in self.records(b, "storage.commit") if r["outcome"] == "failure"]
        self.assertEqual(len(refused), len(cases), refused)
        self.assertTrue(all(r["details"].get("error") for r in refused), refused)
        # Still serving, and still committing.
        self.assertTrue(h.echo_ok(b.echo("CT1")))
        got = self.commit(b, "CT1", ref)
        self.assertEqual(got["reports"][0]["referenced"], ref, got)
        self.assertEqual(b.audit_verify().returncode, 0)
        b.stop()

    def test_a_report_with_nowhere_to_go_is_logged_and_audited(self):
        b = self.new_bastion()
        b.node_add("CT1", allow="echo,store")  # no port: no listener known
        b.start()
        ct_uid = self.store(b, "CT1", CT)[CT][1]
        got = self.commit(b, "CT1", [[CT_IMAGE, ct_uid]], linger_ms=0, same_association=False, timeout_ms=5000)
        self.assertEqual(got["action_status"], 0, got)
        self.assertEqual(got["reports"], [])
        h.wait_for(lambda: self.records(b, "storage.commit.report"), 10, what="report audit record")
        rec = self.records(b, "storage.commit.report")[0]
        self.assertEqual(rec["outcome"], "failure")
        self.assertIn("no single address and port are registered for CT1", rec["details"]["error"])
        self.assertIn("bastion node add --port", b.server.stderr_text())
        b.stop()


class OrthancAsModalityTest(h.BastionTestCase):
    """Orthanc 1.10 (DCMTK underneath) sends to Bastion with StorageCommitment
    on, as its REST API offers, and reports what Bastion committed."""

    ORTHANC_DICOM = 4242

    def setUp(self):
        super().setUp()
        if not st.netns_available():
            self.skipTest("needs root and unshare/nsenter: Orthanc 1.10 binds every interface")
        self.ns = st.NetNs(self.transcript)
        self.addCleanup(self.ns.close)

    def rest(self, method, path, body=None):
        args = ["curl", "-s", "--max-time", "60", "-X", method, f"http://127.0.0.1:8042{path}"]
        if body is not None:
            args += ["--data-binary", json.dumps(body)]
        p = self.ns.run(args, timeout=90)
        self.assertEqual(p.returncode, 0, p.out)
        return json.loads(p.stdout)

    def test_orthanc_stores_and_bastion_commits(self):
        b = self.new_bastion()
        b.node_add("ORTHANC", allow="echo,store", port=self.ORTHANC_DICOM)
        log = os.path.join(self.tmp, "bastion-in-netns.log")
        server = self.ns.spawn([h.BASTION_BIN, "serve", "--data", b.data], log)
        def ready():
            with open(log, errors="replace") as f:
                return server.poll() is None and "ready:" in f.read()
        h.wait_for(ready, 30, what="bastion ready in the namespace")
        st.start_orthanc(self.ns, self.tmp, {
            "DicomAet": "ORTHANC", "DicomPort": self.ORTHANC_DICOM,
            "DicomModalities": {"bastion": ["BASTION", h.LOOPBACK, b.plain_port]},
        }, dicomweb=False)
        files = [os.path.join(h.PYDICOM_TEST_FILES, n) for n in (CT, MR)]
        st.store(self.ns, self.ORTHANC_DICOM, "ORTHANC", files)
        ids = self.rest("GET", "/instances")
        self.assertEqual(len(ids), 2)
        sent = self.rest("POST", "/modalities/bastion/store",
                         {"Resources": ids, "StorageCommitment": True, "Synchronous": True})
        transaction = sent.get("StorageCommitmentTransactionUID")
        self.assertTrue(transaction, sent)
        report = {}

        def reported():
            report.update(self.rest("GET", f"/storage-commitment/{transaction}"))
            return report.get("Status") != "Pending"
        h.wait_for(reported, 60, interval=0.5, what="Orthanc's storage commitment report")
        self.assertEqual(report["Status"], "Success", report)
        uids = {h.sop_info(f)[1] for f in files}
        self.assertEqual({i["SOPInstanceUID"] for i in report["Success"]}, uids, report)
        self.assertEqual(report["Failures"], [], report)
        self.assertEqual(len(h.stored_objects(b.data)), 2)
        asked = [r for r in b.audit_records() if r["type"] == "storage.commit"]
        self.assertEqual([(r["outcome"], r["details"]["committed"]) for r in asked], [("success", 2)])
        delivered = [r for r in b.audit_records() if r["type"] == "storage.commit.report"]
        self.assertEqual([r["outcome"] for r in delivered], ["success"], delivered)
        # Orthanc releases once answered and takes the report on its own port.
        self.assertEqual(delivered[0]["details"]["how"], "new association", delivered)


if __name__ == "__main__":
    unittest.main()
