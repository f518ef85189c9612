"""`bastion scan` against Bastion itself: the default configuration must be
clean (nothing above info, reject reasons 7 and 3 reported apart), a node
registered only for echo is reported as gated, and a deliberately insecure
registry entry (every service, from every address, over plain TCP) is
reported from the outside and by `--self` from the inside.

Bastion binds loopback only (harness), so no namespace is needed."""

import json

import harness as h
import scan_targets as st


def scan(b, *args):
    p = b.cli("scan", *args, "--format", "json", timeout=240)
    try:
        return p.returncode, json.loads(p.stdout), p
    except ValueError:
        raise AssertionError(f"scan did not print JSON (rc={p.returncode}):\n{p.out[-4000:]}")


class ScanBastionTest(h.BastionTestCase):

    def test_default_configuration_is_clean(self):
        b = self.new_bastion()
        b.start()
        rc, report, _ = scan(b, h.LOOPBACK, "--ports", f"{b.plain_port},{b.tls_port}", "--ae", "BASTION")
        self.assertEqual(st.above_info(report), [], "the default configuration must be clean")
        self.assertEqual(rc, 0)
        plain = f"{h.LOOPBACK}:{b.plain_port}"
        tls = f"{h.LOOPBACK}:{b.tls_port}"
        # Reject reasons parsed, called and calling AE checks kept apart.
        d2 = st.findings(report, "D2", target=plain)
        self.assertEqual(len(d2), 1)
        self.assertIn("reason 7 (called AE title not recognized)", d2[0]["received"])
        self.assertIn("called AE title checked", d2[0]["title"])
        d3 = st.findings(report, "D3", target=plain)
        self.assertEqual(len(d3), 1)
        self.assertIn("reason 3 (calling AE title not recognized)", d3[0]["received"])
        self.assertIn("calling AE title checked", d3[0]["title"])
        # The TLS port: a client certificate is required, TLS 1.2+, nothing weak accepted.
        services = {s["endpoint"]: s for s in report["services"]}
        self.assertEqual(services[plain]["protocol"], "dicom")
        self.assertEqual(services[tls]["protocol"], "tls")
        self.assertEqual(services[tls]["details"]["tls_client_certificate"], "required")
        self.assertIn(services[tls]["details"]["tls_version"], ("TLSv1.2", "TLSv1.3"))
        self.assertFalse(any("legacy" in f["title"] or "weak" in f["title"] for f in st.findings(report, "D13")))
        # Nothing was admitted, so nothing past the association checks ran.
        for fid in ("D6", "D8", "D9", "D10", "D11", "D12"):
            self.assertEqual(st.findings(report, fid), [], fid)

    def test_echo_only_node_is_gated(self):
        b = self.new_bastion()
        b.node_add("ECHOONLY", allow="echo")
        b.start()
        rc, report, _ = scan(b, h.LOOPBACK, "--ports", str(b.plain_port), "--ae", "BASTION",
                             "--known-ae", "ECHOONLY")
        d7 = st.findings(report, "D7")
        self.assertEqual(len(d7), 1, report["findings"])
        self.assertIn("only Verification", d7[0]["title"])
        # Gated is not open: no access, query, retrieve, store or transport finding above info.
        for fid in ("D2", "D3", "D4", "D5", "D8", "D9", "D10", "D11", "D12", "D13", "D15"):
            self.assertEqual(st.findings(report, fid, min_severity="low"), [], fid)
        self.assertEqual(st.findings(report, "D6")[0]["title"].split(": ", 1)[1], "Verification")
        # Bastion names itself in its association answer (not the toolkit), so no
        # version-based CVE finding either: nothing above info.
        self.assertEqual({f["id"] for f in st.above_info(report)}, set())
        self.assertIn("Bastion", json.dumps(st.findings(report, "D14")))
        self.assertEqual(rc, 0)

    def test_insecure_registry_entry_is_reported(self):
        b = self.new_bastion()
        b.node_add("OPENDOOR", host="0.0.0.0/0", allow="echo,store,find,move,get")
        b.start()
        rc, report, _ = scan(b, h.LOOPBACK, "--ports", str(b.plain_port), "--ae", "BASTION",
                             "--known-ae", "OPENDOOR@192.0.2.7", "--allow-write")
        d4 = st.findings(report, "D4", "medium")
        self.assertTrue(d4, "an AE title admitted from an address it should not come from")
        self.assertTrue(st.findings(report, "D11", "high"), "the synthetic store was accepted")
        # An identity that is sent is always verified, even for this node: the
        # wrong passcode is refused (the open door is D4/D11, not D12).
        self.assertEqual(st.findings(report, "D12", "low"), [], "a wrong passcode was accepted")
        self.assertTrue(any("not accepted" in f["title"] for f in st.findings(report, "D12")), report["findings"])
        # D11 is real: the synthetic instance is in the archive.
        objects = b.objects()
        self.assertEqual(len(objects), 1, objects)
        # The node may query from anywhere: the scanner sees the wildcard C-FIND
        # allowed (the archive was empty when it asked, so nothing leaked yet) ...
        self.assertTrue(any("allowed" in f["title"] for f in st.findings(report, "D8")), report["findings"])
        # ... and no C-MOVE went to a destination of the scanner's choosing.
        self.assertEqual(st.findings(report, "D10", "low"), [], report["findings"])
        self.assertEqual(rc, 12)
        b.stop()

        # From the inside: the entry itself, and Bastion's own listeners scanned.
        rc, report, p = scan(b, "--self", "--data", b.data)
        s3 = st.findings(report, "S3", "high")
        self.assertTrue(s3 and "OPENDOOR" in s3[0]["title"], report["findings"])
        self.assertTrue(st.findings(report, "S2"), "plain TCP allowed for the node")
        self.assertTrue(st.findings(report, "S4"), "certificate expiry")
        self.assertGreaterEqual(rc, 12, p.out[-2000:])

    def test_self_scan_of_the_default_is_clean(self):
        b = self.new_bastion()
        b.start()
        rc, report, p = scan(b, "--self", "--data", b.data)
        self.assertEqual(st.above_info(report), [], p.stdout[-4000:])
        self.assertEqual(rc, 0)
        s1 = st.findings(report, "S1")
        self.assertEqual(len(s1), 2)
        # Its own listeners were scanned from the outside too.
        self.assertEqual({s["endpoint"] for s in report["services"]},
                         {f"{h.LOOPBACK}:{b.plain_port}", f"{h.LOOPBACK}:{b.tls_port}"})
        b.stop()

    def test_behind_the_tls_handshake_with_a_node_certificate(self):
        """With a registered node's certificate the checks run over DICOM TLS:
        the certificate admits its own AE title only (a random calling AE with
        it is rejected with reason 3), and the node gets exactly its services."""
        b = self.new_bastion()
        b.node_add("TLSNODE", allow="echo,store", tls_only=True)
        tls = b.node_cert("TLSNODE")
        b.start()
        rc, report, p = scan(b, h.LOOPBACK, "--ports", str(b.tls_port), "--ae", "BASTION", "--known-ae",
                             "TLSNODE", "--tls-cert", tls.cert, "--tls-key", tls.key, "--allow-write")
        target = f"{h.LOOPBACK}:{b.tls_port}"
        services = {s["endpoint"]: s for s in report["services"]}
        self.assertEqual(services[target]["protocol"], "dicom-tls", p.out[-3000:])
        self.assertEqual(services[target]["details"]["tls_client_certificate"], "required")
        d3 = st.findings(report, "D3")
        self.assertEqual(len(d3), 1, report["findings"])
        self.assertEqual(d3[0]["severity"], "info")
        self.assertIn("reason 3 (calling AE title not recognized)", d3[0]["received"])
        d6 = st.findings(report, "D6")
        self.assertTrue(d6 and "the known calling AE title TLSNODE" in d6[0]["title"], d6)
        self.assertIn("CT Image Storage", services[target]["accepted_services"])
        self.assertNotIn("Study Root FIND", services[target]["accepted_services"])
        self.assertEqual(st.findings(report, "D12")[0]["severity"], "info")
        # The node may store, and did: that is the server doing its job, not a leak.
        d11 = st.findings(report, "D11")
        self.assertTrue(d11 and d11[0]["severity"] == "info" and "registered AE title TLSNODE" in d11[0]["title"],
                        d11)
        self.assertEqual(len(b.objects()), 1)
        # Behind the handshake nothing is open to strangers.
        self.assertEqual({f["id"] for f in st.above_info(report)}, set())
        self.assertEqual(rc, 0)
