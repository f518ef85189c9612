"""The web UI and the OHIF viewer, end to end in headless Chromium.

tests/clients/ui_e2e.mjs drives Debian's Chromium with npm playwright-core
against a running Bastion, and reports what it saw; this test checks it:

- a fresh browser that never logged in gets the login page (pages) or a
  refusal (APIs) from every URL, and no patient data;
- a reader logs in, searches the study list, opens the study in OHIF, and
  the viewport draws real pixels; nothing is asked of any other host;
- an administrator creates, disables and refuses to lock out users, creates
  and revokes a token, registers a node and is refused one named by host name — and
  the CLI and the audit log see exactly those changes, made by that person;
- a reader left idle past the session timeout is sent back to the login page
  with a message.

Screenshots go to the test's temporary directory, or to $BASTION_UI_SHOTS
(docs/images is refreshed that way: see docs/user-guide.md).
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import unittest

import harness as h

CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients")
CHROMIUM = "/usr/bin/chromium"
READER_PASSWORD = "amber-pylon-nectar-52"
STUDY_UID = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"  # CT_small.dcm
PATIENT_NAME = "CompressedSamples"
IDLE_SECONDS = 40


class WebUiTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        for need, how in ((os.path.join(CLIENTS, "node_modules", "playwright-core"), "tests/clients/node_modules"),
                          (CHROMIUM, "chromium")):
            if not os.path.exists(need):
                self.fail(f"{how} is missing: run scripts/install-deps.sh test (make test does)")
        self.node = shutil.which("node") or shutil.which("nodejs")
        self.assertIsNotNone(self.node, "node is not installed: run scripts/install-deps.sh test")

    def spki_pin(self, b):
        """base64(SHA-256(SubjectPublicKeyInfo)) of the server certificate, for Chromium's SPKI allow list."""
        cert = os.path.join(b.data, "tls", "server.pem")
        pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True,
                             capture_output=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, check=True,
                             capture_output=True).stdout
        return base64.b64encode(hashlib.sha256(der).digest()).decode()

    def admin_password(self):
        for title, text in self.transcript.parts:
            if " init " in title and "Administrator" in text:
                return text.split("Administrator: user admin, password")[1].split("\n")[1].strip()
        raise AssertionError("init's admin password not found in the transcript")

    def test_ui_and_viewer_in_a_browser(self):
        b = self.new_bastion()
        b.set_config("web", "session_idle_seconds", str(IDLE_SECONDS))
        admin_password = self.admin_password()
        p = b.cli("user", "add", "--data", b.data, "doctor", "--role", "reader", "--password-stdin",
                  input=READER_PASSWORD.encode())
        self.assertEqual(p.returncode, 0, p.out)
        files = [os.path.join(h.PYDICOM_TEST_FILES, f) for f in ("CT_small.dcm", "MR_small.dcm")]
        self.assertEqual(b.import_(*files).returncode, 0)
        b.start()
        # The latest self-scan, for the admin's Self-scan page (a default server is clean).
        scan = b.cli("scan", "--self", "--data", b.data, "--format", "json", timeout=300)
        self.assertEqual(scan.returncode, 0, scan.out)
        shots = os.environ.get("BASTION_UI_SHOTS") or os.path.join(self.tmp, "shots")
        os.makedirs(shots, exist_ok=True)
        env = dict(os.environ, BASE=f"https://localhost:{b.https_port}", SPKI=self.spki_pin(b),
                   READER="doctor", READER_PASSWORD=READER_PASSWORD, ADMIN="admin", ADMIN_PASSWORD=admin_password,
                   STUDY_UID=STUDY_UID, PATIENT_NAME=PATIENT_NAME, SEARCH_NAME="compressedsamples^ct", SHOTS=shots, IDLE_SECONDS=str(IDLE_SECONDS),
                   CHROMIUM=CHROMIUM, NODE_EXTRA_CA_CERTS=os.path.join(b.data, "tls", "ca.pem"))
        run = h.run([self.node, os.path.join(CLIENTS, "ui_e2e.mjs")], env=env, transcript=self.transcript,
                    cwd=CLIENTS, timeout=600)
        steps = {}
        for line in run.stdout.splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                steps.setdefault(rec["step"], []).append(rec)
        self.assertNotIn("error", steps, steps.get("error"))
        self.assertEqual(run.returncode, 0, run.out)
        self.assertIn("done", steps, run.out)

        # 1. Never logged in: the login page, or a refusal; never data.
        for rec in steps["anonymous-page"]:
            self.assertEqual(rec["landed"], "/login", rec)
            self.assertFalse(rec["leaks"], rec)
            if rec["path"] != "/":
                self.assertEqual(rec["next"], rec["path"], rec)
        for rec in steps["anonymous-api"]:
            self.assertEqual(rec["status"], 401, rec)
            self.assertFalse(rec["leaks"], rec)
        self.assertEqual(steps["anonymous-foreign"][0]["foreign"], [])

        # 2. The reader found the study and OHIF drew it.
        search = steps["search"][0]
        self.assertEqual(len(search["rows"]), 1, search)
        self.assertIn("CT1", search["rows"][0])
        self.assertIn("2004-01-19", search["rows"][0])
        self.assertIn("No study matches", steps["search-empty"][0]["text"])
        viewer = steps["viewer"][0]
        # Figures for the record (not asserted: a shared CI machine's timing proves nothing).
        sys.stderr.write(f"\nweb UI: search answered in {search['ms']} ms; viewer drew the study "
                         f"{viewer['first_pixels_ms']} ms after Open\n")
        self.assertIn(f"StudyInstanceUIDs={STUDY_UID}", viewer["url"])
        self.assertGreaterEqual(viewer["levels"], 16, f"the viewport shows no image: {viewer}")
        self.assertEqual(viewer["foreign"], [], "the viewer asked another host")
        self.assertEqual([e for e in viewer["errors"] if not e.startswith("404 ")], [], viewer)
        self.assertIn("frame-ancestors 'none'", viewer["csp"])
        self.assertNotIn("'unsafe-eval'", viewer["csp"])
        for name in ("login", "studies", "viewer"):
            self.assertTrue(os.path.getsize(os.path.join(shots, name + ".png")) > 10000, name)
        views = [r for r in b.audit_records() if r["type"] == "view" and r["actor"].get("id") == "doctor"]
        self.assertTrue(views, "the viewer's reads are not in the audit trail as the reader's")

        # 3. The administrator's changes are the CLI's state, and audited as that person.
        self.assertEqual(steps["admin-landing"][0]["url"], f"https://localhost:{b.https_port}/studies",
                         "an open redirect after sign-in")
        self.assertGreaterEqual(steps["admin-users"][0]["generated_length"], 16)
        self.assertIn("only enabled administrator", steps["admin-users"][0]["last_admin"])
        users = {u["name"]: u for u in json.loads(b.cli("user", "list", "--data", b.data, "--json").stdout)}
        self.assertEqual(users["e2e-nurse"]["role"], "reader")
        self.assertTrue(users["e2e-nurse"]["disabled"])
        self.assertFalse(users["admin"]["disabled"])
        token = steps["admin-token-created"][0]
        self.assertTrue(token["token"].startswith("bst_"))
        tokens = {t["id"]: t for t in json.loads(b.cli("token", "list", "--data", b.data, "--json").stdout)}
        self.assertEqual(tokens[token["id"]]["state"], "revoked")
        self.assertEqual(tokens[token["id"]]["user"], "doctor")
        r = h.WebClient(b, self.transcript).get("/dicom-web/studies", token=token["token"], cookies=False)
        self.assertEqual(r.status, 401, "a revoked token still works")
        nodes = steps["admin-nodes"][0]
        self.assertEqual(nodes["listed"], ["E2E_MODALITY"])
        self.assertIn("not an IP address", nodes["refused"])
        registry = json.loads(b.cli("node", "list", "--data", b.data, "--json").stdout)
        self.assertEqual([n["ae_title"] for n in registry], ["E2E_MODALITY"])
        self.assertEqual(registry[0]["allow"], ["echo", "store"])
        by_admin = [r for r in b.audit_records() if r["actor"].get("kind") == "user" and r["actor"].get("id") == "admin"]
        kinds = [r["type"] for r in by_admin]
        for t in ("user.add", "user.disable", "token.create", "token.revoke", "node.add", "audit.read", "self_scan.read"):
            self.assertIn(t, kinds)
        secrets = [admin_password, READER_PASSWORD, token["token"]]
        with open(b.audit_path, encoding="utf-8", errors="replace") as f:
            trail = f.read()
        for s in secrets:
            self.assertNotIn(s, trail, "a secret reached the audit log")
        self.assertTrue(any("user.add" in row for row in steps["audit"][0]["rows"]))
        self.assertEqual(steps["audit"][0]["foreign"], [])

        selfscan = steps["self-scan"][0]
        self.assertIsNotNone(selfscan["summary"], "the Self-scan page shows no report")
        self.assertIn("Worst finding: info", selfscan["summary"])
        self.assertNotRegex(selfscan["text"], r"\b(null|undefined)\b", "the page shows a missing value as text")
        self.assertTrue(any("S1" in row for row in selfscan["findings"]), selfscan)
        self.assertTrue(any("S5" in row for row in selfscan["findings"]), selfscan)

        # 4. Idle past the timeout: back to the login page, which says why.
        expired = steps["expired"][0]
        self.assertEqual(expired["landed"], "/login")
        self.assertEqual(expired["expired"], "1")
        self.assertEqual(expired["next"], "/studies")
        self.assertIn("session ended", expired["message"])
        self.assertEqual(b.audit_verify().returncode, 0)


if __name__ == "__main__":
    unittest.main()
