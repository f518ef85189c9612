"""The web UI's admin and auditor APIs, through HTTPS with curl.

What must hold: an administrator manages people, API tokens and DICOM nodes
from the web with the same checks and the same audit records as the CLI
(archive::Administration behind both), the acting person named in each
record; a generated password or token is answered once and never reaches a
log; disabling someone ends their sessions and tokens at once; the last
enabled administrator cannot lock the web out; every state change needs the
session's CSRF token; readers, uploaders and auditors cannot change anything
(auditors may read the trail, and reading it is itself recorded); bad input
is answered with a 4xx and changes nothing; path parameters cannot traverse;
the audit chain stays intact.
"""

import json
import os
import unittest
import urllib.parse

import harness as h

STRONG = {"reader": "quartz-meadow-lantern-81", "uploader": "copper-harbor-violin-37",
          "auditor": "saffron-glacier-pencil-64"}
ADMIN_ROUTE_PREFIXES = ("/api/users", "/api/tokens", "/api/nodes", "/api/audit", "/api/self-scan")


class WebAdminTest(h.BastionTestCase):

    # --- set-up -------------------------------------------------------------

    def start(self, users=True, config=(), before_start=None):
        b = self.new_bastion()
        for section, key, value in config:
            b.set_config(section, key, value)
        self.admin_password = self.read_admin_password()
        if users:
            for role, password in STRONG.items():
                p = b.cli("user", "add", "--data", b.data, role, "--role", role, "--password-stdin",
                          input=password.encode())
                self.assertEqual(p.returncode, 0, p.out)
        if before_start:
            before_start(b)
        b.start()
        return b

    def read_admin_password(self):
        # init printed it once; the harness keeps init's transcript entry
        for title, text in self.transcript.parts:
            if " init " in title and "Administrator" in text:
                return text.split("Administrator: user admin, password")[1].split("\n")[1].strip()
        raise AssertionError("init's admin password not found in the transcript")

    def client(self, b, name="web"):
        return h.WebClient(b, self.transcript, name=name)

    def admin(self, b):
        c = self.client(b, "admin")
        c.login("admin", self.admin_password)
        return c

    @staticmethod
    def send(c, method, path, body=None, csrf=True, token=None, content_type="application/json", raw=None):
        """A request with a JSON body (or `raw`), the session's CSRF token unless csrf=False."""
        headers = []
        if csrf and c.csrf and token is None:
            headers.append(("X-CSRF-Token", c.csrf))
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None and content_type:
            headers.append(("Content-Type", content_type))
        return c.request(method, path, headers=headers, data=data, token=token, cookies=token is None)

    def assert_problem(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/problem+json"), r)
        self.assertEqual(r.json()["status"], status, r)

    def cli_users(self, b):
        p = b.cli("user", "list", "--data", b.data, "--json")
        self.assertEqual(p.returncode, 0, p.out)
        return {u["name"]: u for u in json.loads(p.stdout)}

    def cli_tokens(self, b):
        p = b.cli("token", "list", "--data", b.data, "--json")
        self.assertEqual(p.returncode, 0, p.out)
        return {t["id"]: t for t in json.loads(p.stdout)}

    def cli_token(self, b, user, expires="1d"):
        p = b.cli("token", "create", "--data", b.data, "--user", user, "--expires", expires)
        self.assertEqual(p.returncode, 0, p.out)
        return p.stdout.strip()

    def state_files(self, b):
        out = {}
        for name in ("users.json", "tokens.json", "nodes.json", "bastion.toml"):
            path = os.path.join(b.data, name)
            out[name] = None
            if os.path.exists(path):
                with open(path, "rb") as f:
                    out[name] = f.read()
        return out

    def change_records(self, b, since=0):
        """Audit records of admin changes after the first `since` records."""
        prefixes = ("user.", "token.create", "token.revoke", "node.")
        return [r for r in b.audit_records()[since:] if r["type"].startswith(prefixes)]

    def assert_audit_intact(self, b):
        p = b.audit_verify()
        self.assertEqual(p.returncode, 0, p.out)

    def admin_routes(self, b):
        p = b.cli("web", "routes", "--json")
        self.assertEqual(p.returncode, 0, p.out)
        routes = [r for r in json.loads(p.stdout) if r["path"].startswith(ADMIN_ROUTE_PREFIXES)]
        self.assertGreaterEqual(len(routes), 13, routes)
        return routes

    @staticmethod
    def concrete(path):
        return (path.replace("{name}", "reader").replace("{id}", "0123456789abcdef")
                .replace("{ae}", "SOMEAE"))

    # --- people -------------------------------------------------------------

    def test_user_lifecycle(self):
        b = self.start()
        a = self.admin(b)
        n = len(b.audit_records())
        r = self.send(a, "POST", "/api/users", {"name": "alice", "role": "reader"})
        self.assertEqual(r.status, 201, r)
        password = r.json()["password"]
        self.assertEqual(r.json()["name"], "alice")
        self.assertEqual(r.json()["role"], "reader")
        listed = {u["name"]: u for u in a.get("/api/users").json()["users"]}
        self.assertEqual(listed["alice"]["role"], "reader")
        self.assertFalse(listed["alice"]["disabled"])
        self.assertIn("find", listed["alice"]["permissions"])
        for u in listed.values():
            self.assertNotIn("password_hash", u)
            self.assertNotIn("totp_secret", u)

        # The generated password works, once shown.
        alice = self.client(b, "alice")
        alice.login("alice", password)
        self.assertEqual(alice.get("/api/session").json()["user"], "alice")
        self.assert_problem(alice.get("/api/audit"), 403)

        # A given password: not answered back.
        r = self.send(a, "POST", "/api/users", {"name": "bruno", "role": "uploader",
                                                "password": "lilac-summit-ferry-2718"})
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("password", r.json())
        self.client(b, "bruno").login("bruno", "lilac-summit-ferry-2718")

        # A role change ends her session; the new role applies at the next login.
        r = self.send(a, "POST", "/api/users/alice/role", {"role": "auditor"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.cli_users(b)["alice"]["role"], "auditor")
        self.assert_problem(alice.get("/api/session"), 401)
        alice.login("alice", password)
        self.assertEqual(alice.get("/api/audit?limit=1").status, 200)

        # A token for her (as Bearer), then disable her: session and token stop at once.
        r = self.send(a, "POST", "/api/tokens", {"user": "alice", "expires": "1d", "note": "reports"})
        self.assertEqual(r.status, 201, r)
        token = r.json()["token"]
        self.assertEqual(alice.get("/api/session", token=token, cookies=False).status, 200)
        r = self.send(a, "POST", "/api/users/alice/disable")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["disabled"], True)
        self.assert_problem(alice.get("/api/session"), 401)
        self.assert_problem(alice.get("/api/session", token=token, cookies=False), 401)
        alice.login("alice", password, expect=401)
        self.assertTrue(self.cli_users(b)["alice"]["disabled"])

        r = self.send(a, "POST", "/api/users/alice/enable")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["disabled"], False)
        alice.login("alice", password)

        # A new password (generated, answered once): the old one stops, her session ends.
        r = self.send(a, "POST", "/api/users/alice/password", {})
        self.assertEqual(r.status, 200, r)
        new_password = r.json()["password"]
        self.assertNotEqual(new_password, password)
        self.assert_problem(alice.get("/api/session"), 401)
        self.client(b, "old").login("alice", password, expect=401)
        alice.login("alice", new_password)
        # And one the admin chooses (an empty body is fine too: generated).
        r = self.send(a, "POST", "/api/users/alice/password", {"password": "harbor-violet-summit-5150"})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("password", r.json())
        self.client(b, "chosen").login("alice", "harbor-violet-summit-5150")

        records = self.change_records(b, n)
        self.assertEqual([r["type"] for r in records],
                         ["user.add", "user.add", "user.role", "token.create", "user.disable", "user.enable",
                          "user.passwd", "user.passwd"])
        for rec in records:
            self.assertEqual(rec["actor"]["kind"], "user", rec)
            self.assertEqual(rec["actor"]["id"], "admin", rec)
            self.assertEqual(rec["actor"]["address"], "127.0.0.1", rec)
        for secret in (password, new_password, "harbor-violet-summit-5150", "lilac-summit-ferry-2718",
                       token.split("_")[-1]):
            self.assertNotIn(secret, b.audit_text(), "a password or token reached the audit log")
            self.assertNotIn(secret, b.server.stderr_text(), "a password or token reached the server log")
        self.assert_audit_intact(b)

    # --- API tokens ---------------------------------------------------------

    def test_token_create_and_revoke(self):
        b = self.start()
        a = self.admin(b)
        r = self.send(a, "POST", "/api/tokens", {"user": "reader", "expires": "30d", "note": "nightly export"})
        self.assertEqual(r.status, 201, r)
        created = r.json()
        token, token_id = created["token"], created["id"]
        self.assertRegex(token, r"^bst_[0-9a-f]{16}_[0-9a-f]{64}$")
        self.assertEqual(token.split("_")[1], token_id)
        self.assertEqual((created["user"], created["state"], created["note"]), ("reader", "active", "nightly export"))

        listed = {t["id"]: t for t in a.get("/api/tokens").json()["tokens"]}
        self.assertEqual(listed[token_id]["state"], "active")
        self.assertNotIn("token", listed[token_id], "the list shows the token")
        self.assertNotIn(token.split("_")[-1].encode(), a.get("/api/tokens").body)

        c = self.client(b, "script")
        r = c.get("/api/session", token=token, cookies=False)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["kind"], r.json()["user"]), ("token", "reader"))

        r = self.send(a, "POST", f"/api/tokens/{token_id}/revoke")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"id": token_id, "user": "reader", "state": "revoked"})
        self.assert_problem(c.get("/api/session", token=token, cookies=False), 401)
        self.assertEqual(self.cli_tokens(b)[token_id]["state"], "revoked")
        self.assertEqual({t["id"]: t for t in a.get("/api/tokens").json()["tokens"]}[token_id]["state"], "revoked")

        # Errors: unknown token, unknown user, bad lifetime, missing fields.
        self.assert_problem(self.send(a, "POST", "/api/tokens/0123456789abcdef/revoke"), 404)
        self.assert_problem(self.send(a, "POST", "/api/tokens", {"user": "nobody", "expires": "1d"}), 404)
        for expires in ("forever", "0h", "366d", "1", ""):
            self.assert_problem(self.send(a, "POST", "/api/tokens", {"user": "reader", "expires": expires}), 400)
        self.assert_problem(self.send(a, "POST", "/api/tokens", {"user": "reader"}), 400)
        self.assert_problem(self.send(a, "POST", "/api/tokens", {"user": "reader", "expires": 30}), 400)
        self.assertEqual(len(self.cli_tokens(b)), 1, "a refused token was created")

        records = self.change_records(b)
        self.assertEqual([r["type"] for r in records][-2:], ["token.create", "token.revoke"])
        self.assertEqual(records[-2]["details"]["token_id"], token_id)
        self.assertEqual(records[-2]["details"]["note"], "nightly export")
        self.assertEqual(records[-1]["details"], {"token_id": token_id, "user": "reader"})
        self.assertNotIn(token.split("_")[-1], b.audit_text())
        self.assert_audit_intact(b)

    # --- DICOM nodes ----------------------------------------------------------

    def test_node_register_echo_remove(self):
        b = self.start(users=False)
        a = self.admin(b)
        n = len(b.audit_records())
        self.assertRejected(b.echo("WEBMOD"), h.REASON_CALLING_AE, "before it is registered")
        r = self.send(a, "POST", "/api/nodes", {"ae": "WEBMOD", "hosts": "127.0.0.1", "allow": "echo",
                                                "port": 11113})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["ae_title"], "WEBMOD")
        self.assertEqual(r.json()["hosts"], ["127.0.0.1"])
        self.assertEqual(r.json()["allow"], ["echo"])
        self.assertEqual(r.json()["port"], 11113)
        nodes = {n["ae_title"]: n for n in a.get("/api/nodes").json()["nodes"]}
        self.assertIn("WEBMOD", nodes)
        self.assertEchoOk(b.echo("WEBMOD"), "after registration from the web")
        # Only what it is allowed: echo, not store.
        ct = os.path.join("/usr/lib/python3/dist-packages/pydicom/data/test_files", "CT_small.dcm")
        if os.path.exists(ct):
            b.store("WEBMOD", [ct])
            self.assertEqual(b.objects(), {}, "a node allowed echo stored an object")

        self.assert_problem(self.send(a, "POST", "/api/nodes", {"ae": "WEBMOD", "hosts": "127.0.0.2",
                                                                "allow": "echo"}), 409)
        self.assertEqual(self.send(a, "DELETE", "/api/nodes/WEBMOD").status, 200)
        self.assertRejected(b.echo("WEBMOD"), h.REASON_CALLING_AE, "after removal from the web")
        self.assert_problem(self.send(a, "DELETE", "/api/nodes/WEBMOD"), 404)
        self.assertEqual(a.get("/api/nodes").json()["nodes"], [])

        records = self.change_records(b, n)
        self.assertEqual([r["type"] for r in records], ["node.add", "node.remove"])
        self.assertEqual(records[0]["details"]["ae_title"], "WEBMOD")
        self.assertEqual(records[0]["details"]["hosts"], ["127.0.0.1"])
        self.assertEqual(records[1]["details"], {"ae_title": "WEBMOD"})
        self.assert_audit_intact(b)

    def test_node_that_would_make_the_registry_unsafe_is_refused(self):
        # Plain DICOM on a non-loopback address is what makes a range-registered
        # plain node unsafe. The server runs in a network namespace of its own
        # whose only interface is loopback, so that "0.0.0.0" reaches nothing
        # beyond this test; curl enters that namespace.
        if os.geteuid() != 0 or h.run(["unshare", "-n", "true"]).returncode != 0:
            self.skipTest("needs a network namespace (unshare -n)")
        b = self.new_bastion()
        b.set_config("dicom", "plain_listen", f'["0.0.0.0:{b.plain_port}"]')
        b.node_add("LEGACY", host="127.0.0.1", allow="echo")
        token = self.cli_token(b, "admin")
        b.start(wrapper=["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"'])
        netns = f"/proc/{b.server.popen.pid}/ns/net"

        def request(method, path, body=None):
            out = os.path.join(self.tmp, "ns-body.json")
            cmd = ["nsenter", f"--net={netns}", "curl", "-sS", "--path-as-is", "-X", method, "-o", out,
                   "-w", "%{http_code}", "--max-time", "60", "--cacert", os.path.join(b.data, "tls", "ca.pem"),
                   "--resolve", f"localhost:{b.https_port}:127.0.0.1", "-H", f"Authorization: Bearer {token}"]
            if body is not None:
                cmd += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
            p = h.run(cmd + [f"https://localhost:{b.https_port}{path}"], transcript=self.transcript)
            self.assertEqual(p.returncode, 0, p.out)
            with open(out, "rb") as f:
                return int(p.stdout.strip()[-3:]), json.loads(f.read() or b"null")

        status, doc = request("GET", "/api/nodes")
        self.assertEqual(status, 200, doc)
        before = self.state_files(b)
        n = len(b.audit_records())
        status, doc = request("POST", "/api/nodes", {"ae": "RANGE", "hosts": "127.0.0.0/8", "allow": "echo"})
        self.assertEqual(status, 409, doc)
        self.assertIn("RANGE", doc["detail"])
        self.assertIn("plain", doc["detail"])
        # Removing the only plain node would leave a network listener nobody may use.
        status, doc = request("DELETE", "/api/nodes/LEGACY")
        self.assertEqual(status, 409, doc)
        self.assertEqual(self.state_files(b), before, "a refused change was saved")
        self.assertEqual(self.change_records(b, n), [], "a refused change was recorded")
        # The same range, TLS only, is safe.
        status, doc = request("POST", "/api/nodes", {"ae": "RANGE", "hosts": "127.0.0.0/8", "allow": "echo",
                                                     "tls_only": True})
        self.assertEqual(status, 201, doc)
        self.assertTrue(doc["tls_only"])
        self.assert_audit_intact(b)

    # --- the same records as the CLI -------------------------------------------

    def test_web_and_cli_write_the_same_records(self):
        b = self.start(users=False)
        a = self.admin(b)
        n = len(b.audit_records())

        def ok(r, status=200):
            self.assertEqual(r.status, status, r)
            return r.json()

        ok(self.send(a, "POST", "/api/users", {"name": "webuser", "role": "reader"}), 201)
        ok(self.send(a, "POST", "/api/users/webuser/role", {"role": "auditor"}))
        ok(self.send(a, "POST", "/api/users/webuser/disable"))
        ok(self.send(a, "POST", "/api/users/webuser/enable"))
        ok(self.send(a, "POST", "/api/users/webuser/password", {}))
        token_id = ok(self.send(a, "POST", "/api/tokens", {"user": "webuser", "expires": "1d"}), 201)["id"]
        ok(self.send(a, "POST", f"/api/tokens/{token_id}/revoke"))
        ok(self.send(a, "POST", "/api/nodes", {"ae": "SAMENODE", "hosts": "127.0.0.1", "allow": "echo,find",
                                               "port": 4242}), 201)
        ok(self.send(a, "DELETE", "/api/nodes/SAMENODE"))
        web = self.change_records(b, n)
        n = len(b.audit_records())

        for args in (("user", "add", "--data", b.data, "cliuser", "--role", "reader"),
                     ("user", "role", "--data", b.data, "cliuser", "auditor"),
                     ("user", "disable", "--data", b.data, "cliuser"),
                     ("user", "enable", "--data", b.data, "cliuser"),
                     ("user", "passwd", "--data", b.data, "cliuser")):
            p = b.cli(*args)
            self.assertEqual(p.returncode, 0, p.out)
        cli_token = self.cli_token(b, "cliuser")
        p = b.cli("token", "revoke", "--data", b.data, "--id", cli_token.split("_")[1])
        self.assertEqual(p.returncode, 0, p.out)
        b.node_add("SAMENODE", host="127.0.0.1", allow="echo,find", port=4242)
        b.node_remove("SAMENODE")
        cli = self.change_records(b, n)

        types = ["user.add", "user.role", "user.disable", "user.enable", "user.passwd", "token.create",
                 "token.revoke", "node.add", "node.remove"]
        self.assertEqual([r["type"] for r in web], types)
        self.assertEqual([r["type"] for r in cli], types)
        for w, c in zip(web, cli):
            self.assertEqual(sorted(w["details"]), sorted(c["details"]), f"{w['type']}: {w} vs {c}")
            self.assertEqual(w["outcome"], "success")
            self.assertEqual((w["actor"]["kind"], w["actor"]["id"], w["actor"]["address"]),
                             ("user", "admin", "127.0.0.1"), w)
            self.assertEqual(c["actor"]["kind"], "local-operator", c)
            if w["type"] in ("user.add", "user.role", "user.passwd"):
                same = {k: v for k, v in w["details"].items() if k != "user"}
                self.assertEqual(same, {k: v for k, v in c["details"].items() if k != "user"}, w["type"])
            if w["type"] in ("node.add", "node.remove"):
                self.assertEqual(w["details"], c["details"], w["type"])
        self.assert_audit_intact(b)

    # --- the last administrator -------------------------------------------------

    def test_last_admin_cannot_disable_or_demote_themself(self):
        b = self.start()
        a = self.admin(b)
        before = self.state_files(b)
        n = len(self.change_records(b))
        self.assert_problem(self.send(a, "POST", "/api/users/admin/disable"), 409)
        for role in ("reader", "auditor", "uploader"):
            r = self.send(a, "POST", "/api/users/admin/role", {"role": role})
            self.assert_problem(r, 409)
        self.assertIn("administrator", r.json()["detail"])
        self.assertEqual(self.state_files(b), before)
        self.assertEqual(len(self.change_records(b)), n)
        self.assertEqual(a.get("/api/users").status, 200, "the admin's session ended")
        # An admin token is the same web: refused too.
        token = self.cli_token(b, "admin")
        c = self.client(b, "script")
        self.assert_problem(self.send(c, "POST", "/api/users/admin/disable", token=token), 409)

        # With a second administrator, one of them may step down; the other is then the last.
        r = self.send(a, "POST", "/api/users", {"name": "admin2", "role": "admin"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.send(a, "POST", "/api/users/admin2/disable").status, 200)
        self.assert_problem(self.send(a, "POST", "/api/users/admin/disable"), 409)
        self.assertEqual(self.send(a, "POST", "/api/users/admin2/enable").status, 200)
        self.assertEqual(self.send(a, "POST", "/api/users/admin2/role", {"role": "reader"}).status, 200)
        self.assert_problem(self.send(a, "POST", "/api/users/admin/role", {"role": "reader"}), 409)

        # The operator at the shell is not held back (and can undo it).
        p = b.cli("user", "disable", "--data", b.data, "admin")
        self.assertEqual(p.returncode, 0, p.out)
        self.assert_problem(a.get("/api/users"), 401)
        p = b.cli("user", "enable", "--data", b.data, "admin")
        self.assertEqual(p.returncode, 0, p.out)
        self.admin(b)
        self.assert_audit_intact(b)

    # --- CSRF -------------------------------------------------------------------

    def test_state_changes_need_the_csrf_token(self):
        b = self.start()
        b.node_add("KEEPME", allow="echo")
        a = self.admin(b)
        before = self.state_files(b)
        n = len(self.change_records(b))
        attempts = [("POST", "/api/users", {"name": "mallory", "role": "admin"}),
                    ("POST", "/api/users/reader/disable", None),
                    ("POST", "/api/users/reader/role", {"role": "admin"}),
                    ("POST", "/api/users/reader/password", {"password": "mallory-picked-this-9"}),
                    ("POST", "/api/tokens", {"user": "admin", "expires": "365d"}),
                    ("POST", "/api/nodes", {"ae": "EVIL", "hosts": "127.0.0.1", "allow": "echo,store,find,get"}),
                    ("DELETE", "/api/nodes/KEEPME", None)]
        # Another session of the same administrator: its CSRF token is not this session's.
        other = self.admin(b)
        self.assertNotEqual(other.csrf, a.csrf)
        for method, path, body in attempts:
            self.assert_problem(self.send(a, method, path, body, csrf=False), 403)
            for wrong in ("0" * 64, other.csrf):
                headers = [("X-CSRF-Token", wrong), ("Content-Type", "application/json")]
                r = a.request(method, path, headers=headers, data=json.dumps(body) if body else None)
                self.assert_problem(r, 403)
        self.assertEqual(self.state_files(b), before, "a request without the CSRF token changed something")
        self.assertEqual(len(self.change_records(b)), n)
        refused = [r for r in b.audit_records() if r["type"] == "web.refused" and "CSRF" in r["details"]["reason"]]
        self.assertGreaterEqual(len(refused), 3 * len(attempts))
        # With the token, the same request works.
        self.assertEqual(self.send(a, "POST", "/api/users/reader/disable").status, 200)
        self.assert_audit_intact(b)

    # --- roles --------------------------------------------------------------------

    def test_other_roles_cannot_administer(self):
        b = self.start()
        routes = self.admin_routes(b)
        tokens = {role: self.cli_token(b, role) for role in STRONG}
        before = self.state_files(b)
        n = len(self.change_records(b))
        sessions = {}
        for role, password in STRONG.items():
            sessions[role] = self.client(b, role)
            sessions[role].login(role, password)
        bodies = {"/api/users": {"name": "sneaky", "role": "admin"}, "/api/tokens": {"user": "admin", "expires": "1d"},
                  "/api/nodes": {"ae": "SNEAKY", "hosts": "127.0.0.1", "allow": "echo"}}
        checked = 0
        for route in routes:
            path = self.concrete(route["path"])
            body = bodies.get(route["path"], {"role": "admin"} if route["path"].endswith("/role") else {})
            body = None if route["method"] in ("GET", "DELETE") else body
            for role in STRONG:
                allowed = role == "auditor" and route["method"] == "GET" and route["path"] == "/api/audit"
                for how in ("session", "token"):
                    c = sessions[role]
                    r = (self.send(c, route["method"], path, body) if how == "session" else
                         self.send(c, route["method"], path, body, token=tokens[role]))
                    if allowed:
                        self.assertEqual(r.status, 200, f"{role} {how} {route}: {r}")
                    else:
                        self.assert_problem(r, 403)
                    checked += 1
        self.assertEqual(checked, len(routes) * 6)
        self.assertEqual(self.state_files(b), before, "a refused request changed something")
        self.assertEqual(len(self.change_records(b)), n)
        refused = [r for r in b.audit_records() if r["type"] == "web.refused"]
        self.assertGreaterEqual(len(refused), checked - 2)
        self.assert_audit_intact(b)

    # --- the audit trail ------------------------------------------------------------

    def test_audit_trail_reading_is_recorded_and_pages(self):
        b = self.start()
        a = self.admin(b)
        for i in range(6):
            r = self.send(a, "POST", "/api/users", {"name": f"person{i}", "role": "reader"})
            self.assertEqual(r.status, 201, r)
        self.assertEqual(self.send(a, "POST", "/api/users/person3/disable").status, 200)
        auditor = self.client(b, "auditor")
        auditor.login("auditor", STRONG["auditor"])

        r = auditor.get("/api/audit?type=user.add&actor=admin&limit=4")
        self.assertEqual(r.status, 200, r)
        page = r.json()
        self.assertEqual([rec["details"]["user"] for rec in page["records"]],
                         ["person5", "person4", "person3", "person2"])
        self.assertFalse(page["scan_limited"])
        seqs = [rec["seq"] for rec in page["records"]]
        self.assertEqual(seqs, sorted(seqs, reverse=True))
        self.assertEqual(page["next_before"], seqs[-1])
        r = auditor.get(f"/api/audit?type=user.add&actor=admin&limit=4&before={page['next_before']}")
        older = [rec["details"]["user"] for rec in r.json()["records"]]
        self.assertEqual(older, ["person1", "person0"])
        self.assertEqual(r.json()["next_before"], 0)

        # Reading is itself a record: who, with which filters, how many shown.
        last = b.audit_records()[-1]
        self.assertEqual(last["type"], "audit.read")
        self.assertEqual((last["actor"]["kind"], last["actor"]["id"]), ("user", "auditor"))
        self.assertEqual(last["details"]["filters"]["type"], "user.add")
        self.assertEqual(last["details"]["filters"]["before"], page["next_before"])
        self.assertEqual(last["details"]["records"], 2)

        # The other filters.
        r = auditor.get("/api/audit?type=user.&text=person3")
        self.assertEqual([rec["type"] for rec in r.json()["records"]], ["user.disable", "user.add"])
        r = auditor.get("/api/audit?text=" + urllib.parse.quote("person4"))
        self.assertEqual([rec["type"] for rec in r.json()["records"]], ["user.add"])
        self.assert_problem(auditor.get("/api/users"), 403)  # a failure to find
        r = auditor.get("/api/audit?failures=true&type=web.refused")
        self.assertEqual(r.status, 200)
        refused = r.json()["records"]
        self.assertGreaterEqual(len(refused), 1)
        self.assertTrue(all(rec["outcome"] == "failure" for rec in refused))
        self.assertEqual(refused[0]["actor"]["id"], "auditor")
        r = auditor.get("/api/audit?since=2000-01-01&until=2000-01-02")
        self.assertEqual(r.json()["records"], [])
        r = auditor.get("/api/audit?since=2000-01-01T00:00:00Z&type=login&limit=1000")
        self.assertGreaterEqual(len(r.json()["records"]), 2)
        reads = [rec for rec in b.audit_records() if rec["type"] == "audit.read"]
        self.assertEqual(len(reads), 7, "every read of the trail is recorded")

        # Bad queries: 400, and the admin reads it too.
        for query in ("limit=0", "limit=1001", "limit=abc", "before=-1", "since=yesterday", "until=2026/01/01",
                      "colour=blue", "text=%zz", "type=" + "a" * 65):
            self.assert_problem(auditor.get("/api/audit?" + query), 400)
        self.assertEqual(a.get("/api/audit?limit=1").status, 200)
        self.assert_audit_intact(b)

    # --- bad input ------------------------------------------------------------------

    def test_bad_input_changes_nothing(self):
        b = self.start()
        b.node_add("KEEPME", allow="echo")
        a = self.admin(b)
        r = self.send(a, "POST", "/api/tokens", {"user": "reader", "expires": "1d"})
        self.assertEqual(r.status, 201, r)
        before = self.state_files(b)
        n = len(self.change_records(b))

        cases = [
            # not JSON
            (415, "POST", "/api/users", None, "text/plain", "name=x&role=reader"),
            (415, "POST", "/api/users", None, None, '{"name": "x", "role": "reader"}'),
            (400, "POST", "/api/users", None, "application/json", "{not json"),
            (400, "POST", "/api/users", None, "application/json", '["x", "reader"]'),
            (415, "POST", "/api/nodes", None, "application/x-www-form-urlencoded", "ae=X"),
            (415, "POST", "/api/users/reader/role", None, "text/plain", "admin"),
            # users
            (400, "POST", "/api/users", {"name": "x"}, "application/json", None),
            (400, "POST", "/api/users", {"name": 5, "role": "reader"}, "application/json", None),
            (400, "POST", "/api/users", {"name": "x", "role": "root"}, "application/json", None),
            (400, "POST", "/api/users", {"name": "x", "role": "Admin"}, "application/json", None),
            (400, "POST", "/api/users", {"name": "../x", "role": "reader"}, "application/json", None),
            (400, "POST", "/api/users", {"name": "x", "role": "reader", "password": "short"}, "application/json",
             None),
            (409, "POST", "/api/users", {"name": "reader", "role": "reader"}, "application/json", None),
            (400, "POST", "/api/users/reader/role", {"role": "superuser"}, "application/json", None),
            (400, "POST", "/api/users/reader/role", {}, "application/json", None),
            (400, "POST", "/api/users/reader/password", {"password": "password1234"}, "application/json", None),
            (400, "POST", "/api/users/reader/password", {"password": 12345}, "application/json", None),
            (404, "POST", "/api/users/nobody/disable", None, None, None),
            (404, "POST", "/api/users/nobody/enable", None, None, None),
            (404, "POST", "/api/users/nobody/role", {"role": "reader"}, "application/json", None),
            (404, "POST", "/api/users/nobody/password", {}, "application/json", None),
            # tokens
            (404, "POST", "/api/tokens/0123456789abcdef/revoke", None, None, None),
            (404, "POST", "/api/tokens/nonsense/revoke", None, None, None),
            # nodes
            (400, "POST", "/api/nodes", {"ae": "X", "hosts": "pacs.example.org", "allow": "echo"},
             "application/json", None),
            (400, "POST", "/api/nodes", {"ae": "X", "hosts": "10.0.0.1/40", "allow": "echo"}, "application/json",
             None),
            (400, "POST", "/api/nodes", {"ae": "X", "hosts": "127.0.0.1", "allow": "echo", "port": 70000},
             "application/json", None),
            (400, "POST", "/api/nodes", {"ae": "X", "hosts": "127.0.0.1", "allow": "echo", "port": -1},
             "application/json", None),
            (400, "POST", "/api/nodes", {"ae": "X", "hosts": "127.0.0.1", "allow": "echo", "port": "104"},
             "application/json", None),
            (400, "POST", "/api/nodes", {"ae": "X", "hosts": "127.0.0.1", "allow": "echo", "port": 104.5},
             "application/json", None),
            (400, "POST", "/api/nodes", {"ae": "X", "hosts": "127.0.0.1", "allow": "echo,teleport"},
             "application/json", None),
            (400, "POST", "/api/nodes", {"ae": "X", "hosts": "127.0.0.1"}, "application/json", None),
            (400, "POST", "/api/nodes", {"ae": "X", "hosts": "127.0.0.1", "allow": "echo", "tls_only": "yes"},
             "application/json", None),
            (400, "POST", "/api/nodes", {"ae": "SEVENTEEN_CHARS_X", "hosts": "127.0.0.1", "allow": "echo"},
             "application/json", None),
            (400, "POST", "/api/nodes", {"ae": "X", "hosts": "127.0.0.1", "allow": "echo",
                                         "tls_cert_sha256": "abcd"}, "application/json", None),
            (409, "POST", "/api/nodes", {"ae": "KEEPME", "hosts": "127.0.0.1", "allow": "echo"},
             "application/json", None),
            (404, "DELETE", "/api/nodes/NOSUCHNODE", None, None, None),
        ]
        for status, method, path, body, content_type, raw in cases:
            r = self.send(a, method, path, body, content_type=content_type, raw=raw)
            self.assert_problem(r, status)
        self.assertEqual(self.state_files(b), before, "bad input changed something")
        self.assertEqual(len(self.change_records(b)), n, "bad input was recorded as a change")
        self.assertNotIn("password1234", b.audit_text())
        self.assert_audit_intact(b)

    def test_path_parameters_cannot_traverse(self):
        b = self.start()
        b.node_add("KEEPME", allow="echo")
        a = self.admin(b)
        before = self.state_files(b)
        n = len(self.change_records(b))
        paths = []
        for evil in ("..", "%2e%2e", "%2E%2E", "..%2F..%2Fbastion.toml", "..%2f..%2fusers.json", "%2e%2e%2fusers.json",
                     "..%5Cusers.json", "a%00b", "%zz", "admin%2F..%2Freader"):
            paths += [("POST", f"/api/users/{evil}/disable"), ("POST", f"/api/users/{evil}/role"),
                      ("POST", f"/api/users/{evil}/password"), ("POST", f"/api/tokens/{evil}/revoke"),
                      ("DELETE", f"/api/nodes/{evil}")]
        paths += [("POST", "/api/users/../users/reader/disable"), ("POST", "/api/users/reader/../admin/disable"),
                  ("DELETE", "/api/nodes/../nodes/KEEPME"), ("DELETE", "/api/nodes/KEEPME/.."),
                  ("POST", "/api/tokens/../../tokens.json/revoke")]
        for method, path in paths:
            body = {"role": "reader"} if path.endswith("/role") else None
            r = self.send(a, method, path, body)
            self.assertIn(r.status, (400, 404, 405), f"{method} {path}: {r}")
            self.assertNotIn(b"[dicom]", r.body)
        self.assertEqual(self.state_files(b), before, "a traversing path changed something")
        self.assertEqual(len(self.change_records(b)), n)
        self.assertIn("KEEPME", [n["ae_title"] for n in a.get("/api/nodes").json()["nodes"]])
        self.assertFalse(self.cli_users(b)["reader"]["disabled"])
        self.assert_audit_intact(b)


if __name__ == "__main__":
    unittest.main()
