"""`bastion scan --web` against an HTTPS server nobody here wrote: OpenSSL's
own `s_server -www`, in a private network namespace. It answers every GET
with a status page, so it also checks that the REST checks do not mistake
any 200 for an open API, and that the product-specific POSTs are not sent to
a server that is not that product."""

import os

import harness as h
import scan_targets as st


class ScanWebTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        if not st.netns_available():
            self.skipTest("needs root and unshare/nsenter")
        self.ns = st.NetNs(self.transcript)
        self.addCleanup(self.ns.close)

    def test_https_hardening_without_false_alarms(self):
        key, cert = os.path.join(self.tmp, "key.pem"), os.path.join(self.tmp, "cert.pem")
        p = h.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                   "-days", "400", "-subj", "/CN=www.test"], transcript=self.transcript, timeout=60)
        self.assertEqual(p.returncode, 0, p.out)
        log = os.path.join(self.tmp, "s_server.log")
        proc = self.ns.spawn(["openssl", "s_server", "-accept", "8443", "-cert", cert, "-key", key, "-www"], log)
        def up():
            self.assertIsNone(proc.poll(), "s_server exited")
            with open(log, errors="replace") as f:
                return "ACCEPT" in f.read()
        h.wait_for(up, 30, what="s_server's ACCEPT line")
        url = "https://127.0.0.1:8443"
        rc, report, _ = st.scan(self.ns, ["--web", url])
        services = {s["endpoint"]: s for s in report["services"]}
        self.assertEqual(services[url]["protocol"], "https")
        self.assertEqual(services[url]["details"]["tls_version"], "TLSv1.3")
        self.assertEqual(services[url]["details"]["tls_client_certificate"], "not requested")
        w7 = {f["title"]: f["severity"] for f in st.findings(report, "W7")}
        self.assertEqual(w7.get("no Strict-Transport-Security header"), "medium", w7)
        # s_server's default list still has RSA key exchange suites for TLS 1.2.
        self.assertTrue(any(t.startswith("weak TLS cipher suite accepted") and "RSA key exchange" in t
                            for t in w7), w7)
        self.assertTrue(any(t.startswith("certificate not verified") and s == "info" for t, s in w7.items()), w7)
        # A status page on every path is not an open REST API, DICOMweb or viewer.
        for fid in ("W1", "W2", "W3", "W4", "W5", "W6"):
            self.assertEqual(st.findings(report, fid, min_severity="low"), [], fid)
        w2 = st.findings(report, "W2")
        self.assertIn("not tried (not Orthanc)", w2[0]["received"])
        self.assertEqual(rc, 11)
