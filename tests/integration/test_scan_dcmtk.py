"""`bastion scan` against DCMTK servers nobody here wrote: storescp (accepts
anything) and dcmqrscp with a permissive configuration (any calling AE, any
move destination) holding pydicom's sample files. Every finding asserted
here is checked against what the server really did (the stored file, the
number of patients), and the report must not contain a single PHI value."""

import glob
import os
import warnings

import pydicom

import harness as h
import scan_targets as st


class ScanDcmtkTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        if not st.netns_available():
            self.skipTest("needs root and unshare/nsenter: DCMTK's servers bind every interface")
        self.ns = st.NetNs(self.transcript)
        self.addCleanup(self.ns.close)

    def assertFinding(self, report, fid, severity, msg=""):
        got = st.findings(report, fid)
        self.assertTrue(any(f["severity"] == severity for f in got),
                        f"expected {fid} at {severity} {msg}; got {[(f['severity'], f['title']) for f in got]}")

    def test_storescp_accepts_anything(self):
        _proc, out_dir = st.start_storescp(self.ns, self.tmp, 11112)
        rc, report, _p = st.scan(self.ns, ["127.0.0.1", "--ports", "11112,104", "--allow-write"])
        self.assertFinding(report, "D2", "high", "(storescp accepts any called AE)")
        self.assertFinding(report, "D3", "high", "(storescp accepts any calling AE)")
        self.assertFinding(report, "D11", "high", "(the synthetic instance was stored)")
        self.assertFinding(report, "D12", "high")
        self.assertFinding(report, "D13", "low", "(plain DICOM with data, loopback target)")
        # D11 is real: the synthetic instance is in storescp's folder.
        files = glob.glob(os.path.join(out_dir, "*"))
        self.assertEqual(len(files), 1, f"storescp received {files}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(files[0])
        self.assertEqual(str(ds.PatientName), "BASTION^SCAN^SYNTHETIC")
        # No Q/R contexts on storescp: no query or retrieve findings at all.
        for fid in ("D8", "D9", "D10"):
            self.assertEqual(st.findings(report, fid), [], f"{fid} on a storage-only SCP")
        self.assertEqual([s["protocol"] for s in report["services"]], ["dicom", "closed"])
        # Exit status is the worst severity; D14 (DCMTK 3.6.7 by version) is high, nothing is critical.
        self.assertEqual(report["summary"]["worst"], "high")
        self.assertEqual(rc, 12)

    def test_dcmqrscp_permissive(self):
        qr_port, move_port = 11113, 11199
        st.start_dcmqrscp(self.ns, self.tmp, qr_port, move_port)
        files = st.sample_files()
        st.store(self.ns, qr_port, "DCMQRSCP", files)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
        patients = {str(d.PatientID) for d in datasets}
        studies = {str(d.StudyInstanceUID) for d in datasets}

        out_html = os.path.join(self.tmp, "report.html")
        rc, report, p = st.scan(self.ns, ["127.0.0.1", "--ports", str(qr_port), "--ae", "DCMQRSCP",
                                          "--move-port", str(move_port)])
        # dcmqrscp checks the called AE (reason 7) but not the calling AE.
        d2 = st.findings(report, "D2")
        self.assertEqual([f["severity"] for f in d2], ["info"])
        self.assertIn("reason 7 (called AE title not recognized)", d2[0]["received"])
        self.assertFinding(report, "D3", "high")
        # D8: exactly the patients and studies it holds, as counts.
        d8 = st.findings(report, "D8", "critical")
        titles = " | ".join(f["title"] for f in d8)
        self.assertIn(f"returned {len(patients)} patients", titles)
        self.assertIn(f"returned {len(studies)} studies", titles)
        self.assertIn("PatientName", d8[0]["received"])
        self.assertFinding(report, "D9", "critical", "(C-GET of the first study)")
        d10 = st.findings(report, "D10", "critical")
        self.assertTrue(d10, "C-MOVE to the scanner's SCP not reported")
        self.assertIn("calling AE DCMQRSCP from 127.0.0.1", d10[0]["received"])
        self.assertFinding(report, "D15", "low")
        self.assertEqual(rc, 13)
        # Never a PHI value: no patient name, ID or birth date anywhere in the report.
        for d in datasets:
            for value in (str(d.PatientName), str(d.PatientID), str(d.get("PatientBirthDate", ""))):
                if len(value) >= 4:
                    self.assertNotIn(value, p.stdout, "a PHI value leaked into the report")
                    self.assertNotIn(value.replace("^", " "), p.stdout, "a PHI value leaked into the report")

        # The canary: the retrieve proof aims at the operator's study, and the HTML report is one file.
        canary = str(datasets[0].StudyInstanceUID)
        rc2, report2, _ = st.scan(self.ns, ["127.0.0.1", "--ports", str(qr_port), "--ae", "DCMQRSCP",
                                            "--move-port", str(move_port), "--canary", canary])
        d9 = st.findings(report2, "D9", "critical")
        self.assertTrue(d9 and "canary" in d9[0]["sent"], d9)
        p3 = self.ns.run([h.BASTION_BIN, "scan", "127.0.0.1", "--ports", str(qr_port), "--ae", "DCMQRSCP",
                          "--move-port", str(move_port), "--format", "html", "--out", out_html])
        self.assertEqual(p3.returncode, 13, p3.out)
        with open(out_html) as f:
            html = f.read()
        self.assertTrue(html.startswith("<!DOCTYPE html>"))
        self.assertIn("query leak", html)
        self.assertNotIn("<script", html)
        self.assertNotIn(" src=", html)

    def test_weak_tls(self):
        """storescp over TLS with the retired AES profile (RSA key exchange,
        CBC), a 1024-bit key that expires in five days, and no client
        certificate required: every weakness reported, over TLS."""
        key, cert = os.path.join(self.tmp, "key.pem"), os.path.join(self.tmp, "cert.pem")
        p = h.run(["openssl", "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", key, "-out", cert,
                   "-days", "5", "-subj", "/CN=WEAKTLS"], transcript=self.transcript, timeout=60)
        self.assertEqual(p.returncode, 0, p.out)
        proc = self.ns.spawn(["storescp", "+tls", key, cert, "+pa", "-ic", "-aet", "WEAKTLS", "-od", self.tmp, "2762"],
                             os.path.join(self.tmp, "storescp-tls.log"))
        # Ready when the port answers TLS (a plain C-ECHO would only count as a failed handshake).
        def up():
            self.assertIsNone(proc.poll(), "storescp +tls exited")
            q = self.ns.run(["openssl", "s_client", "-connect", "127.0.0.1:2762"], timeout=20)
            return "CONNECTED" in q.out
        h.wait_for(up, 30, what="storescp's TLS port")
        rc, report, _ = st.scan(self.ns, ["127.0.0.1", "--ports", "2762"])
        services = {s["endpoint"]: s for s in report["services"]}
        self.assertEqual(services["127.0.0.1:2762"]["protocol"], "dicom-tls")
        self.assertEqual(services["127.0.0.1:2762"]["details"]["tls_client_certificate"], "not requested")
        d13 = {f["title"]: f["severity"] for f in st.findings(report, "D13")}
        titles = " | ".join(d13)
        self.assertIn("weak certificate key: RSA 1024", titles)
        self.assertIn("server certificate expires on", titles)
        self.assertTrue(any(t.startswith("weak TLS cipher suite accepted") for t in d13), titles)
        self.assertIn("legacy TLS accepted: TLSv1.1", titles)
        self.assertEqual(d13["legacy TLS accepted: TLSv1.1"], "high")
        self.assertEqual(d13["weak certificate key: RSA 1024"], "medium")
        # TLS is no access control: any AE still gets in, over TLS.
        d2 = st.findings(report, "D2", "high")
        self.assertTrue(d2 and "over TLS" in d2[0]["title"], report["findings"])
        self.assertEqual(rc, 12)
