"""User Identity Negotiation (PS3.7 D.3.3.7): a node registered with
--require-user must carry a person's identity on every association; the
identity is verified (user name + passcode over TLS only, or an API token sent
as a JWT), a wrong one is never ignored, and what the person may do is the
node's services limited by the person's role.

DCMTK 3.6.7's storescu is the DCMTK tool that sends a user identity
(findscu/getscu/movescu have no such option in this version), so the
association-level checks use it; the permission narrowing is seen through
which presentation contexts it gets."""

import os
import unittest

import harness as h

PASSWORD = "correct horse battery staple 42"


class UserIdentityTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        self.b = self.new_bastion()
        self.files = [os.path.join(h.PYDICOM_TEST_FILES, "CT_small.dcm")]
        for user, role in (("alice", "uploader"), ("rita", "reader")):
            p = self.b.cli("user", "add", "--data", self.b.data, user, "--role", role, "--password-stdin",
                           input=(PASSWORD + "\n").encode())
            self.assertEqual(p.returncode, 0, p.out)
        self.b.node_add("WS1", allow="echo,store,find")
        self.set_require_user("WS1")
        self.tls = self.b.node_cert("WS1")
        self.server = self.b.start()

    def set_require_user(self, ae):
        # The CLI flag, re-registering the node.
        self.b.node_remove(ae)
        p = self.b.cli("node", "add", "--data", self.b.data, "--ae", ae, "--host", h.LOOPBACK,
                       "--allow", "echo,store,find", "--require-user")
        self.assertEqual(p.returncode, 0, p.out)

    def store(self, extra=(), tls=True):
        return self.b.store("WS1", self.files, tls=self.tls if tls else None, extra=list(extra))

    def association_records(self):
        return [r for r in self.b.audit_records() if r.get("type") == "association"]

    def test_missing_identity_is_rejected(self):
        p = self.store()
        self.assertNoAssociation(p)
        last = self.association_records()[-1]
        self.assertEqual(last["details"]["decision"], "rejected")
        self.assertIn("requires a user identity", last["details"]["why"])

    def test_wrong_passcode_is_rejected_and_not_ignored(self):
        p = self.store(["-usr", "alice", "-pwd", "not the password at all"])
        self.assertNoAssociation(p)
        last = self.association_records()[-1]
        self.assertIn("wrong_password", last["details"]["why"])
        self.assertEqual(last["details"].get("user"), "alice")
        # The passcode itself never reaches the audit log.
        with open(self.b.audit_path) as f:
            self.assertNotIn("not the password at all", f.read())

    def test_passcode_over_plain_tcp_is_refused(self):
        self.b.node_remove("WS1")
        p = self.b.cli("node", "add", "--data", self.b.data, "--ae", "WS1", "--host", h.LOOPBACK,
                       "--allow", "echo,store", "--require-user")
        self.assertEqual(p.returncode, 0, p.out)
        p = self.store(["-usr", "alice", "-pwd", PASSWORD], tls=False)
        self.assertNoAssociation(p)
        self.assertIn("TLS only", self.association_records()[-1]["details"]["why"])

    def test_user_without_passcode_is_refused(self):
        p = self.store(["-usr", "alice"])
        self.assertNoAssociation(p)

    def test_uploader_stores_and_is_attributed(self):
        p = self.store(["-usr", "alice", "-pwd", PASSWORD])
        self.assertEqual(p.returncode, 0, p.out)
        results = h.parse_storescu(p.out)
        self.assertTrue(results and all(r["status"] == 0 for r in results), p.out)
        stores = [r for r in self.b.audit_records() if r.get("type") == "instance.store"]
        self.assertTrue(stores)
        actor = stores[-1]["actor"]
        self.assertEqual((actor["kind"], actor["id"], actor.get("via")), ("user", "alice", "WS1"))
        self.assertEqual(self.b.audit_verify().returncode, 0)

    def test_reader_cannot_store_through_a_store_node(self):
        # The node may store, the person may not: no storage context.
        p = self.store(["-usr", "rita", "-pwd", PASSWORD])
        self.assertNotEqual(p.returncode, 0, p.out)
        self.assertFalse([r for r in self.b.audit_records() if r.get("type") == "instance.store"
                          and r.get("outcome") == "success"])
        granted = self.association_records()[-1]["details"]["permissions"]
        self.assertNotIn("store", granted)
        self.assertIn("find", granted)

    def test_api_token_as_jwt(self):
        p = self.b.cli("token", "create", "--data", self.b.data, "--user", "alice", "--expires", "1d")
        self.assertEqual(p.returncode, 0, p.out)
        token = p.stdout.strip()
        jwt = os.path.join(self.tmp, "token.jwt")
        with open(jwt, "w") as f:
            f.write(token)
        ok = self.store(["--jwt", jwt])
        self.assertEqual(ok.returncode, 0, ok.out)
        with open(jwt, "w") as f:
            f.write(token[:-4] + "0000")
        bad = self.store(["--jwt", jwt])
        self.assertNoAssociation(bad)
        with open(self.b.audit_path) as f:
            self.assertNotIn(token, f.read())

    def test_identity_is_verified_even_when_not_required(self):
        self.b.node_add("WS2", allow="echo,store")
        tls2 = self.b.node_cert("WS2")
        bad = self.b.store("WS2", self.files, tls=tls2, extra=["-usr", "alice", "-pwd", "wrong wrong wrong"])
        self.assertNoAssociation(bad)
        plain = self.b.store("WS2", self.files, tls=tls2)
        self.assertEqual(plain.returncode, 0, plain.out)

    def test_second_factor_user_uses_a_token_not_a_passcode(self):
        # A user with TOTP has no place for a one-time code in DICOM: the
        # password is refused (audited with the reason); an API token works.
        p = self.b.cli("user", "totp", "--data", self.b.data, "alice")
        self.assertEqual(p.returncode, 0, p.out)
        secret = p.stdout.splitlines()[0]
        refused = self.store(["-usr", "alice", "-pwd", PASSWORD])
        self.assertNoAssociation(refused)
        last = self.association_records()[-1]
        self.assertEqual(last["details"]["decision"], "rejected")
        self.assertIn("totp_missing", last["details"]["why"])
        self.assertIn("API token", last["details"]["why"])
        # Nor does the password followed by the current code.
        code_appended = self.store(["-usr", "alice", "-pwd", PASSWORD + h.totp_code(secret)])
        self.assertNoAssociation(code_appended)
        p = self.b.cli("token", "create", "--data", self.b.data, "--user", "alice", "--expires", "1d")
        self.assertEqual(p.returncode, 0, p.out)
        jwt = os.path.join(self.tmp, "token.jwt")
        with open(jwt, "w") as f:
            f.write(p.stdout.strip())
        ok = self.store(["--jwt", jwt])
        self.assertEqual(ok.returncode, 0, ok.out)
        with open(self.b.audit_path) as f:
            self.assertNotIn(secret, f.read())


if __name__ == "__main__":
    unittest.main()
