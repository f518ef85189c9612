"""`bastion scan` against Bastion itself: the default configuration must be
clean (nothing above info, reject reasons 7 and 3 reported apart), a node
registered only for echo is reported as gated, and a deliberately insecure
registry entry (every service, from every address, over plain TCP) is
reported from the outside and by `--self` from the inside.

Bastion binds loopback only (harness), so no namespace is needed."""

import json
import os
import stat

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
        # The web front end from the inside: its listener, logoff and HSTS, all info.
        s5 = {f["title"] for f in st.findings(report, "S5")}
        self.assertIn(f"HTTPS (web UI, viewer, DICOMweb) listens on {h.LOOPBACK}:{b.https_port} (loopback only)",
                      s5)
        self.assertIn("automatic logoff after 15 minutes idle; a session ends after 12 hours however active", s5)
        # Its own listeners were scanned from the outside too, the web one included.
        url = f"https://{h.LOOPBACK}:{b.https_port}"
        services = {s["endpoint"]: s for s in report["services"]}
        self.assertEqual(set(services), {f"{h.LOOPBACK}:{b.plain_port}", f"{h.LOOPBACK}:{b.tls_port}", url})
        self.assertEqual(services[url]["protocol"], "https")
        self.assertIn(services[url]["details"]["tls_version"], ("TLSv1.2", "TLSv1.3"))
        self.assertIn(url, report["scope"]["web"])
        for fid in ("W2", "W3", "W7"):
            self.assertTrue(st.findings(report, fid, target=url), fid)
        # Its own CA is trusted: the certificate is judged, not called untrusted.
        self.assertFalse([f for f in report["findings"] if f["title"].startswith("certificate not verified")],
                         report["findings"])
        # The saved copy for the web UI: the same bytes, owner-only.
        path = os.path.join(b.data, "self-scan", "latest.json")
        with open(path) as f:
            saved = f.read()
        self.assertEqual(saved, p.stdout)
        self.assertEqual(json.loads(saved)["schema"], "bastion-scan/1")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)
        self.assertEqual(sorted(os.listdir(os.path.dirname(path))), ["latest.json"])
        b.stop()

    def test_self_scan_reports_a_weak_web_configuration(self):
        """[web] with a one-hour automatic logoff and HSTS off: S5 from the
        inside, and the missing header seen from the outside as well. The
        saved report is JSON whatever --format the run printed."""
        b = self.new_bastion()
        b.set_config("web", "session_idle_seconds", "3600")
        b.set_config("web", "hsts_max_age", "0")
        b.start()
        p = b.cli("scan", "--self", "--data", b.data, "--format", "text", timeout=240)
        self.assertEqual(p.returncode, 11, p.out[-4000:])
        self.assertIn("S5", p.stdout)
        with open(os.path.join(b.data, "self-scan", "latest.json")) as f:
            report = json.load(f)
        self.assertEqual(report["summary"]["exit_code"], 11)
        s5 = st.findings(report, "S5", "medium")
        titles = sorted(f["title"] for f in s5)
        self.assertEqual(len(s5), 2, report["findings"])
        self.assertTrue(titles[0].startswith("Strict-Transport-Security is off"), titles)
        self.assertTrue(titles[1].startswith("automatic logoff only after 1 hour idle"), titles)
        logoff = next(f for f in s5 if "logoff" in f["title"])
        self.assertEqual(logoff["hipaa"], "45 CFR 164.312(a)(2)(iii) Automatic logoff")
        self.assertIn("session_idle_seconds", logoff["fix"])
        url = f"https://{h.LOOPBACK}:{b.https_port}"
        w7 = st.findings(report, "W7", "medium", target=url)
        self.assertEqual([f["title"] for f in w7], ["no Strict-Transport-Security header"], report["findings"])
        # Nothing else is wrong with it.
        self.assertEqual({f["id"] for f in st.above_info(report)}, {"S5", "W7"})
        b.stop()

    def test_self_scan_that_cannot_be_saved_still_reports(self):
        b = self.new_bastion()
        with open(os.path.join(b.data, "self-scan"), "w") as f:
            f.write("in the way\n")
        rc, report, p = scan(b, "--self", "--data", b.data)
        self.assertIn("cannot save the self-scan", p.stderr)
        self.assertTrue(st.findings(report, "S1"), report["findings"])
        self.assertEqual(rc, report["summary"]["exit_code"])

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
