"""C-ECHO and C-STORE with DCMTK's echoscu/storescu, over plain TCP on
loopback and over DICOM TLS with a certificate from `bastion node cert`;
the audit trail they leave."""

import json
import os
import re
import signal
import socket
import ssl
import stat
import time
import unittest
import warnings

import pydicom

import harness as h

CT = os.path.join(h.PYDICOM_TEST_FILES, "CT_small.dcm")
MR = os.path.join(h.PYDICOM_TEST_FILES, "MR_small.dcm")
RTPLAN = os.path.join(h.PYDICOM_TEST_FILES, "rtplan.dcm")

# PHI in the sample files above: must never reach the server's ordinary log.
PHI = ["CompressedSamples^CT1", "CompressedSamples^MR1", "Last^First^mid^pre", "1CT1", "4MR1"]


class EchoStoreTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        self.b = self.new_bastion()
        self.b.node_add("MODALITY1", host="127.0.0.1", allow="echo,store")

    def assertStoredIdentical(self, files, statuses):
        """Stored dataset == the bytes storescu sent (as DCMTK's bit-preserving storescp receives them)."""
        cfg = h.storescu_config(os.path.join(self.tmp, "ref.cfg"), files)
        sent = h.reference_store(self.tmp, files, config=cfg, transcript=self.transcript)
        objects = self.b.objects()
        for f in files:
            _cls, inst, _ts = h.sop_info(f)
            self.assertIn(f, statuses, f"storescu did not send {f}")
            self.assertEqual(statuses[f], 0, f"store of {os.path.basename(f)}: status {statuses[f]}")
            self.assertIn(inst, objects, f"{os.path.basename(f)} ({inst}) not found under blobs/objects")
            self.assertIn(inst, sent, f"reference storescp did not receive {f}")
            self.assertEqual(h.dataset_bytes(objects[inst]), sent[inst],
                             f"stored dataset of {os.path.basename(f)} differs from what was sent")
            self.assertEqual(h.file_meta(objects[inst])[2], h.file_meta(f)[2],
                             f"stored transfer syntax of {os.path.basename(f)} differs")

    def store(self, files, **kw):
        cfg = h.storescu_config(os.path.join(self.tmp, "scu.cfg"), files)
        p = self.b.store("MODALITY1", files, config=cfg, **kw)
        statuses = {r["file"]: r["status"] for r in h.parse_storescu(p.out)}
        return p, statuses

    def test_node_list_shows_registered_node(self):
        listing = self.b.node_list(as_json=True)
        text = json.dumps(listing)
        self.assertIn("MODALITY1", text)
        self.assertIn("127.0.0.1", text)
        plain = self.b.node_list(as_json=False)
        self.assertIn("MODALITY1", plain)

    def test_plain_echo_and_store(self):
        self.b.start()
        self.assertEchoOk(self.b.echo("MODALITY1"), "over plain TCP")
        p, statuses = self.store([CT, MR, RTPLAN])
        self.assertEqual(p.returncode, 0, p.out[-3000:])
        self.assertStoredIdentical([CT, MR, RTPLAN], statuses)
        self.assertEqual(self.b.staging_leftovers(), [])

        # storing the very same bytes again: success, nothing duplicated
        p, statuses = self.store([CT])
        self.assertEqual(statuses.get(CT), 0, f"second identical store of CT_small: {p.out[-2000:]}")
        self.assertEqual(len(self.b.objects()), 3)

        self.b.stop()
        err = "\n".join(s.stderr_text() for s in self.b.servers)
        for phi in PHI:
            self.assertNotIn(phi, err, f"PHI {phi!r} appears in the server's ordinary log (stderr)")

    def test_tls_echo_and_store_with_node_cert(self):
        tls = self.b.node_cert("MODALITY1")
        # the files DCMTK needs, key private
        for f in (tls.key, tls.cert, tls.ca):
            self.assertTrue(os.path.isfile(f), f"node cert did not write {f}")
        self.assertEqual(stat.S_IMODE(os.stat(tls.key).st_mode), 0o600, "key.pem must be mode 0600")
        with open(tls.key) as f:
            self.assertNotIn("ENCRYPTED", f.read(), "key.pem must be unencrypted")
        # it prints the certificate's SHA-256 fingerprint
        fp = tls.fingerprint()
        printed = re.sub(r"[^0-9a-f]", "", tls.cli_output.lower().replace("sha256", "").replace("sha-256", ""))
        self.assertIn(fp, printed, f"node cert output does not show SHA-256 {fp}:\n{tls.cli_output}")

        self.b.start()
        self.assertEchoOk(self.b.echo("MODALITY1", tls=tls), "over TLS with the node certificate")
        p, statuses = self.store([CT, MR], tls=tls)
        self.assertEqual(p.returncode, 0, p.out[-3000:])
        self.assertStoredIdentical([CT, MR], statuses)

        # the raw client agrees: TLS 1.2+ with client certificate, C-ECHO success
        scu, res = h.mini_associate(self.b.tls_port, "MODALITY1", tls=tls)
        self.assertEqual(res.kind, "accepted", res)
        self.assertIn(scu.sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(scu.c_echo(1), 0)
        self.assertTrue(scu.release())
        self.b.stop()

    def test_audit_records_and_verify(self):
        server = self.b.start()
        self.assertEchoOk(self.b.echo("MODALITY1"))
        p, statuses = self.store([CT])
        self.assertEqual(statuses.get(CT), 0, p.out[-3000:])
        rejected = self.b.echo("NOBODY")
        self.assertRejected(rejected)
        self.b.stop()
        # the first start after init is not mistaken for one after a crash
        self.assertNotIn("unclean stop", server.stderr_text())

        v = self.b.audit_verify()
        self.assertEqual(v.returncode, 0, f"audit verify: {v.out}")
        m = re.search(r"audit chain intact: (\d+) records", v.stdout)
        self.assertTrue(m, f"audit verify output: {v.out}")
        records = self.b.audit_records()
        self.assertEqual(int(m.group(1)), len(records), "verify's record count vs lines in audit.log")
        dumps = [json.dumps(r).lower() for r in records]
        _cls, inst, _ts = h.sop_info(CT)
        self.assertTrue(any("assoc" in d and "modality1" in d for d in dumps),
                        "no association record naming MODALITY1 in audit.log")
        self.assertTrue(any("assoc" in d and "nobody" in d for d in dumps),
                        "no record of the rejected association from NOBODY in audit.log")
        self.assertTrue(any("store" in d and inst in d for d in dumps),
                        f"no store record naming SOP Instance UID {inst} in audit.log")
        self.assertTrue(any("node" in d and "modality1" in d for d in dumps),
                        "no record of the node registry change (node add MODALITY1) in audit.log")

    def test_audit_tamper_detected(self):
        self.b.start()
        self.assertEchoOk(self.b.echo("MODALITY1"))
        p, statuses = self.store([CT, MR])
        self.assertEqual(statuses.get(CT), 0, p.out[-3000:])
        self.b.stop()
        self.assertEqual(self.b.audit_verify().returncode, 0)

        with open(self.b.audit_path) as f:
            lines = f.read().splitlines(keepends=True)
        self.assertGreaterEqual(len(lines), 3, "expected several audit records")
        original = "".join(lines)
        mid = len(lines) // 2

        # edit one record (change a character inside a JSON string value)
        rec = json.loads(lines[mid])
        edited = False
        for k, v in rec.items():
            if isinstance(v, str) and v and k not in ("hash", "prev", "prev_hash", "sha256"):
                rec[k] = v[:-1] + ("X" if v[-1] != "X" else "Y")
                edited = True
                break
        self.assertTrue(edited, f"no string field to edit in {lines[mid]!r}")
        tampered = lines[:mid] + [json.dumps(rec) + "\n"] + lines[mid + 1:]
        with open(self.b.audit_path, "w") as f:
            f.write("".join(tampered))
        v = self.b.audit_verify()
        self.assertEqual(v.returncode, 5, f"edited record not detected: {v.out}")
        self.assertTrue(re.search(r"(line|record|seq)\D{0,3}%d\b" % (mid + 1), v.stdout, re.I),
                        f"audit verify should say where the chain breaks (line/record {mid + 1}): {v.out}")

        # delete one record
        with open(self.b.audit_path, "w") as f:
            f.write("".join(lines[:mid] + lines[mid + 1:]))
        v = self.b.audit_verify()
        self.assertEqual(v.returncode, 5, f"deleted record not detected: {v.out}")

        with open(self.b.audit_path, "w") as f:
            f.write(original)
        self.assertEqual(self.b.audit_verify().returncode, 0)

    def test_tls_profile_refuses_old_versions_and_non_aead_suites(self):
        tls = self.b.node_cert("MODALITY1")
        self.b.start()
        attempts = [
            ("TLS 1.0", ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1, "DEFAULT:@SECLEVEL=0"),
            ("TLS 1.1", ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1, "DEFAULT:@SECLEVEL=0"),
            ("TLS 1.2 with CBC (non-AEAD) suites only", ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2,
             "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:"
             "AES128-SHA:AES256-SHA:AES128-SHA256:AES256-SHA256:DHE-RSA-AES128-SHA:@SECLEVEL=0"),
        ]
        for name, lo, hi, ciphers in attempts:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.load_verify_locations(tls.ca)
                ctx.load_cert_chain(tls.cert, tls.key)
                ctx.minimum_version, ctx.maximum_version = lo, hi
                ctx.set_ciphers(ciphers)
            sock = socket.create_connection((h.LOOPBACK, self.b.tls_port), timeout=10)
            try:
                with self.assertRaises((ssl.SSLError, ConnectionError, OSError),
                                       msg=f"{name}: the TLS handshake succeeded"):
                    t = ctx.wrap_socket(sock, server_hostname="bastion")
                    got = (t.version(), t.cipher())
                    t.close()
                    self.fail(f"{name}: handshake succeeded with {got}")
            finally:
                sock.close()
        # a TLS 1.2 AEAD suite and TLS 1.3 work
        for lo, hi in ((ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2), (ssl.TLSVersion.TLSv1_3,
                                                                           ssl.TLSVersion.TLSv1_3)):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.load_verify_locations(tls.ca)
            ctx.load_cert_chain(tls.cert, tls.key)
            ctx.minimum_version, ctx.maximum_version = lo, hi
            with socket.create_connection((h.LOOPBACK, self.b.tls_port), timeout=10) as sock:
                with ctx.wrap_socket(sock, server_hostname="bastion") as t:
                    cipher = t.cipher()[0]
                    self.assertTrue("GCM" in cipher or "CHACHA20" in cipher or "CCM" in cipher,
                                    f"negotiated a non-AEAD suite: {t.cipher()}")
        self.assertEchoOk(self.b.echo("MODALITY1", tls=tls))
        self.b.stop()

    def test_no_nagle_stalls_whatever_the_environment_says(self):
        # DCMTK leaves Nagle on unless TCP_NODELAY=1; the server must not care.
        env = dict(os.environ, TCP_NODELAY="0")
        self.b.start(env=env)
        scu, res = h.mini_associate(self.b.plain_port, "MODALITY1")
        self.assertEqual(res.kind, "accepted", res)
        n = 200
        start = time.monotonic()
        for _ in range(n):
            self.assertEqual(scu.c_echo(1), 0)
        elapsed = time.monotonic() - start
        scu.release()
        # with Nagle + delayed ACK each exchange stalls ~40 ms (8 s here); loopback needs well under 1 ms
        self.assertLess(elapsed, 3.0, f"{n} C-ECHO exchanges took {elapsed:.2f} s "
                                      f"({1000 * elapsed / n:.1f} ms each): Nagle stalls?")

        # the same for C-STORE of small objects over one association
        files = [os.path.join(self.tmp, f"small{i}.dcm") for i in range(40)]
        base = pydicom.dcmread(MR)
        for i, f in enumerate(files):
            base.SOPInstanceUID = base.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.9.7433.9.{i + 1}"
            base.save_as(f, write_like_original=False)
        cls, _inst, ts = h.sop_info(files[0])
        scu, res = h.mini_associate(self.b.plain_port, "MODALITY1", contexts=[(cls, [ts])])
        self.assertEqual(res.kind, "accepted", res)
        start = time.monotonic()
        for f in files:
            self.assertEqual(scu.c_store(1, cls, h.sop_info(f)[1], h.dataset_bytes(f)), 0)
        elapsed = time.monotonic() - start
        scu.release()
        self.assertLess(elapsed, 6.0, f"{len(files)} small C-STOREs took {elapsed:.2f} s "
                                      f"({1000 * elapsed / len(files):.1f} ms each)")
        self.b.stop()

    def test_sigterm_lets_running_association_finish(self):
        server = self.b.start()
        cls, inst, ts = h.sop_info(MR)
        scu, res = h.mini_associate(self.b.plain_port, "MODALITY1", contexts=[(cls, [ts])])
        self.assertEqual(res.kind, "accepted", res)
        server.popen.send_signal(signal.SIGTERM)

        def refused():
            try:
                s2, r2 = h.mini_associate(self.b.plain_port, "MODALITY1")
            except OSError:
                return True
            s2.close() if r2.kind != "accepted" else s2.release()
            return r2.kind != "accepted"
        h.wait_for(refused, 10, interval=0.1, what="new associations refused after SIGTERM")
        self.assertTrue(server.alive(), "server exited with an association still running")
        status = scu.c_store(1, cls, inst, h.dataset_bytes(MR))
        self.assertEqual(status, 0, f"store on an association opened before SIGTERM: {h.fmt_status(status)}")
        self.assertTrue(scu.release(), "release after SIGTERM")
        rc = server.terminate()
        self.assertEqual(rc, 0, f"exit code after draining: {rc}")
        self.assertIn(inst, self.b.objects())

    def test_second_copy_with_different_bytes(self):
        self.b.start()
        cls, inst, ts = h.sop_info(CT)
        original = h.dataset_bytes(CT)
        ds = pydicom.dcmread(CT)
        ds.PatientComments = "changed"   # same SOP Instance UID, different bytes
        changed_path = os.path.join(self.tmp, "ct_changed.dcm")
        ds.save_as(changed_path, write_like_original=False)
        changed = h.dataset_bytes(changed_path)

        def store(data):
            scu, res = h.mini_associate(self.b.plain_port, "MODALITY1", contexts=[(cls, [ts])])
            self.assertEqual(res.kind, "accepted", res)
            st = scu.c_store(1, cls, inst, data)
            scu.release()
            return st

        self.assertEqual(store(original), 0)
        self.assertEqual(store(original), 0, "identical second copy must be a plain success")
        st = store(changed)
        self.assertTrue(st is not None and (0xB000 <= st <= 0xBFFF or st == 0x0001),
                        f"different second copy under on_conflict=keep-first: expected a warning status, "
                        f"got {h.fmt_status(st)}")
        documented = re.search(r"keep-first.*?warning\s+(0x[0-9A-Fa-f]{4})", self.b.config_text(), re.S)
        if documented:
            self.assertEqual(st, int(documented.group(1), 16),
                             f"bastion.toml documents warning {documented.group(1)} for keep-first, "
                             f"the server answered {h.fmt_status(st)}")
        objects = self.b.objects()
        self.assertEqual(len(objects), 1)
        self.assertEqual(h.dataset_bytes(objects[inst]), original, "the first copy must be kept")
        self.b.stop()

        self.b.set_config("storage", "on_conflict", '"reject"')
        self.b.start()
        st = store(changed)
        self.assertTrue(h.is_failure(st), f"different second copy under on_conflict=reject: {h.fmt_status(st)}")
        documented = re.search(r'"reject".*?failure\s+(0x[0-9A-Fa-f]{4})', self.b.config_text(), re.S)
        if documented:
            self.assertEqual(st, int(documented.group(1), 16),
                             f"bastion.toml documents failure {documented.group(1)} for reject, "
                             f"the server answered {h.fmt_status(st)}")
        self.assertEqual(h.dataset_bytes(self.b.objects()[inst]), original)
        self.assertEqual(self.b.staging_leftovers(), [])
        self.b.stop()
        self.assertEqual(self.b.audit_verify().returncode, 0)


if __name__ == "__main__":
    unittest.main()
