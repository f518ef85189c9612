"""`bastion scan` against Debian's Orthanc 1.10 with its DICOMweb plugin,
in a private network namespace (Orthanc binds every interface):

- the packaged default configuration (remote access off, no users, no
  modalities, DicomAlwaysAllowStore on),
- configured the way the exposed sites were (remote access on, the
  orthanc/orthanc user, one modality declared, DICOM port open),
- with stores refused for unknown AEs: echo-only gating.

Every finding asserted is checked against what Orthanc really holds."""

import harness as h
import scan_targets as st

DICOM, HTTP = 4242, 8042
WEB = f"http://127.0.0.1:{HTTP}"


class ScanOrthancTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        if not st.netns_available():
            self.skipTest("needs root and unshare/nsenter: Orthanc 1.10 binds every interface")
        self.ns = st.NetNs(self.transcript)
        self.addCleanup(self.ns.close)

    def start(self, overrides, load=True, loader_ae="LOADER"):
        st.start_orthanc(self.ns, self.tmp, overrides)
        if load:
            st.store(self.ns, DICOM, "ORTHANC", st.sample_files(), aet=loader_ae)

    def ids(self, report, severity):
        return {f["id"] for f in st.findings(report, min_severity=severity)}

    def test_packaged_default(self):
        self.start({})
        before = st.orthanc_instances(self.ns)
        rc, report, p = st.scan(self.ns, ["127.0.0.1", "--ports", str(DICOM), "--web", WEB, "--allow-write"])
        # DICOM: any AE may store (DicomAlwaysAllowStore), nobody unknown may query.
        for fid in ("D2", "D3", "D11"):
            self.assertTrue(st.findings(report, fid, "high"), f"{fid} expected high: {report['findings']}")
        # D11 and the STOW of W3 are real: two synthetic instances more.
        self.assertEqual(st.orthanc_instances(self.ns), before + 2)
        self.assertTrue(any("STOW" in f["title"] for f in st.findings(report, "W3", "high")), report["findings"])
        self.assertFalse(st.findings(report, "D8", "low"), "Orthanc refuses C-FIND from unknown AEs by default")
        self.assertTrue(any("refused" in f["title"] for f in st.findings(report, "D8")))
        # Web: remote access is off, but from this host everything is open without a login.
        for fid in ("W2", "W3", "W5"):
            self.assertTrue(st.findings(report, fid, "critical"), f"{fid} expected critical")
        w2 = st.findings(report, "W2", "critical")[0]
        # The three sample patients and the synthetic one D11 stored before the web checks ran.
        self.assertIn("lists 4 patients", w2["title"])
        self.assertFalse(st.findings(report, "W4"), "no login is asked for, so no default credentials to try")
        self.assertTrue(st.findings(report, "W1", "low"))
        services = {s["endpoint"]: s for s in report["services"]}
        self.assertEqual(services[WEB]["software"]["product"], "Orthanc")
        self.assertEqual(rc, 13)

    def test_exposed_site(self):
        self.start({"RemoteAccessAllowed": True, "AuthenticationEnabled": True,
                    "RegisteredUsers": {"orthanc": "orthanc"},
                    "DicomModalities": {"MODALITY": ["MODALITY", "192.0.2.10", 104]}})
        before = st.orthanc_instances(self.ns, user="orthanc:orthanc")
        rc, report, p = st.scan(self.ns, ["127.0.0.1", "--ports", str(DICOM), "--web", WEB,
                                          "--known-ae", "MODALITY@192.0.2.10", "--allow-write"])
        # The declared AE is taken from anywhere (no host check) and may query and retrieve.
        self.assertTrue(st.findings(report, "D4", "medium"))
        d8 = st.findings(report, "D8", "critical")
        self.assertTrue(any("returned 3 patients" in f["title"] for f in d8), d8)
        self.assertTrue(st.findings(report, "D9", "critical"))
        self.assertTrue(st.findings(report, "D11", "high"))
        self.assertEqual(st.orthanc_instances(self.ns, user="orthanc:orthanc"), before + 1)
        # Orthanc moves only to declared modalities: the scanner's destination is refused.
        d10 = st.findings(report, "D10")
        self.assertTrue(d10 and d10[0]["severity"] == "info", d10)
        # Web: a login is asked for, and the documented default opens it.
        w4 = st.findings(report, "W4", "critical")
        self.assertTrue(w4 and "orthanc/orthanc" in w4[0]["title"], report["findings"])
        self.assertFalse(st.findings(report, "W2", "low"), "REST requires a login here")
        self.assertFalse(st.findings(report, "W5", "low"), "the viewer's data requires a login here")
        self.assertEqual(rc, 13)
        # Counts only: the samples' patient names never appear.
        for name in ("CompressedSamples", "Lastname^Firstname", "Lastname"):
            self.assertNotIn(name, p.stdout)

    def test_echo_only_gating(self):
        self.start({"DicomAlwaysAllowStore": False}, load=False)
        rc, report, p = st.scan(self.ns, ["127.0.0.1", "--ports", str(DICOM), "--allow-write"])
        # Orthanc negotiates every context and then refuses every operation: gated, not open.
        self.assertTrue(st.findings(report, "D7"), report["findings"])
        for fid in ("D2", "D3", "D8", "D9", "D10", "D11", "D12", "D13", "D15"):
            self.assertEqual(st.findings(report, fid, min_severity="low"), [], fid)
        self.assertEqual(st.orthanc_instances(self.ns), 0, "nothing may have been stored")
        self.assertEqual(self.ids(report, "low"), {"D14"}, "only the DCMTK banner, by version")

