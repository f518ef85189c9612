"""The HTTPS front end's doors, through curl and raw TLS sockets.

What must hold: nothing but the login page and its assets answers without
credentials (the route table walk); each role gets 403 where it lacks the
permission; sessions are HttpOnly/Secure/SameSite=Strict cookies that end on
logout, on idle timeout, and when the account changes; state changes need the
CSRF token; failed logins slow down and then lock; API tokens work as Bearer
and stop when revoked; TLS is 1.2+ with AEAD suites only; every response has
the security headers; limits are enforced before work; path parameters cannot
traverse; plain HTTP is refused off loopback. Every refusal is audited.
"""

import json
import os
import socket
import ssl
import time
import unittest

import harness as h

STRONG = {"reader": "quartz-meadow-lantern-81", "uploader": "copper-harbor-violin-37",
          "auditor": "saffron-glacier-pencil-64"}
SECURITY_HEADERS = ("strict-transport-security", "content-security-policy", "x-content-type-options",
                    "referrer-policy", "x-frame-options")


class WebAuthTest(h.BastionTestCase):

    def start(self, config=(), users=True):
        b = self.new_bastion()
        for section, key, value in config:
            b.set_config(section, key, value)
        self.admin_password = self.read_admin_password(b)
        if users:
            for role, password in STRONG.items():
                p = b.cli("user", "add", "--data", b.data, role, "--role", role, "--password-stdin",
                          input=password.encode())
                self.assertEqual(p.returncode, 0, p.out)
        b.start()
        return b

    def read_admin_password(self, b):
        # init printed it once; the harness keeps init's transcript entry
        for title, text in self.transcript.parts:
            if " init " in title and "Administrator" in text:
                return text.split("Administrator: user admin, password")[1].split("\n")[1].strip()
        raise AssertionError("init's admin password not found in the transcript")

    def client(self, b, name="web"):
        return h.WebClient(b, self.transcript, name=name)

    def assert_security_headers(self, r, secure=True):
        for name in SECURITY_HEADERS:
            if name == "strict-transport-security" and not secure:
                self.assertIsNone(r.header(name), "HSTS over plain HTTP")
                continue
            self.assertIsNotNone(r.header(name), f"{name} missing on {r}")
        self.assertIn("frame-ancestors 'none'", r.header("content-security-policy"))
        self.assertEqual(r.header("x-content-type-options"), "nosniff")

    def assert_problem(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.header("content-type").startswith("application/problem+json"), r)
        doc = r.json()
        self.assertEqual(doc["status"], status)
        self.assertIn("title", doc)

    def routes(self, b):
        p = b.cli("web", "routes", "--json")
        self.assertEqual(p.returncode, 0, p.out)
        return json.loads(p.stdout)

    @staticmethod
    def concrete(path):
        out = []
        for seg in path.split("/"):
            if seg.startswith("{") and seg.endswith("}"):
                seg = {"{file}": "bastion.css", "{path+}": "app-config.js",
                       "{name}": "reader", "{id}": "0123456789abcdef", "{ae}": "SOMEAE"}.get(
                           seg, "1.2.826.0.1.3680043.10.5.1")
            out.append(seg)
        return "/".join(out)

    # --- the route table --------------------------------------------------

    def test_route_table_walk(self):
        b = self.start()
        routes = self.routes(b)
        self.assertTrue(routes, "empty route table")
        public = [r for r in routes if r["access"] == "public"]
        for r in public:
            self.assertTrue(r["path"] in ("/", "/login", "/api/login") or r["path"].startswith("/static/"),
                            f"public route beyond the login page and its assets: {r}")
        tokens = {}
        for role in STRONG:
            p = b.cli("token", "create", "--data", b.data, "--user", role, "--expires", "1d")
            self.assertEqual(p.returncode, 0, p.out)
            tokens[role] = p.stdout.strip()
        role_permissions = {"reader": {"find", "move", "get", "view"}, "uploader": {"store"}, "auditor": {"audit"}}
        anonymous = self.client(b, "anonymous")
        checked = 0
        for r in routes:
            if r["access"] == "public":
                continue
            path = self.concrete(r["path"])
            data = "{}" if r["method"] in ("POST", "PUT") else None
            headers = [("Content-Type", "application/json")] if data else []
            a = anonymous.request(r["method"], path, headers=headers, data=data)
            if r["access"] == "page":
                # A page a browser opens: sent to the login page, which brings it back; nothing of the page.
                self.assertEqual(a.status, 303, a)
                self.assertEqual(a.header("Location"), "/login?next=" + path, a)
                self.assertEqual(a.body, b"")
            else:
                self.assert_problem(a, 401)
            self.assertNotIn(b"1.2.826.0.1.3680043.10.5.1", a.body, "the 401 echoes the request")
            self.assert_security_headers(a)
            for role, token in tokens.items():
                a = anonymous.request(r["method"], path, headers=headers, data=data, token=token, cookies=False)
                if r["access"] in ("signed-in", "page") or r["access"] in role_permissions[role]:
                    self.assertNotIn(a.status, (401, 403), f"{role} refused on {r}: {a}")
                else:
                    self.assert_problem(a, 403)
            checked += 1
        self.assertGreater(checked, 0)
        refused = [rec for rec in b.audit_records() if rec.get("type") == "web.refused"]
        self.assertGreaterEqual(len(refused), checked, "401/403 refusals are not all audited")
        self.assertTrue(b.audit_verify().returncode == 0)

    def test_public_pages_and_security_headers(self):
        b = self.start(users=False)
        c = self.client(b)
        r = c.get("/login")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("content-type").startswith("text/html"))
        self.assert_security_headers(r)
        self.assertNotIn(b"<script>", r.body, "inline script: the CSP forbids it")
        for asset in ("login.js", "bastion.css"):
            r = c.get("/static/" + asset)
            self.assertEqual(r.status, 200, r)
            self.assert_security_headers(r)
        r = c.get("/")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.header("location"), "/login")
        for path in ("/no/such/thing", "/static/nothing.js"):
            r = c.get(path)
            self.assert_problem(r, 404)
            self.assert_security_headers(r)
        r = c.request("DELETE", "/login")
        self.assert_problem(r, 405)
        self.assertIn("GET", r.header("allow"))

    # --- sessions ----------------------------------------------------------

    def test_login_session_csrf_logout(self):
        b = self.start()
        c = self.client(b)
        r = c.login("reader", STRONG["reader"])
        cookie = r.header("set-cookie")
        for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
            self.assertIn(flag, cookie)
        self.assertEqual(r.json()["user"], "reader")
        self.assertNotIn(STRONG["reader"].encode(), r.body)
        s = c.get("/api/session")
        self.assertEqual(s.status, 200, s)
        self.assertEqual(s.json()["user"], "reader")
        self.assertEqual(s.json()["csrf_token"], c.csrf)
        # a state change without the CSRF token, or with a wrong one, is refused and changes nothing
        self.assert_problem(c.post("/api/logout", csrf=False), 403)
        self.assert_problem(c.post("/api/logout", csrf=False, headers=[("X-CSRF-Token", "0" * 64)]), 403)
        self.assertEqual(c.get("/api/session").status, 200, "a refused logout ended the session")
        self.assertEqual(c.post("/api/logout").status, 204)
        self.assert_problem(c.get("/api/session"), 401)
        # login takes JSON only: a cross-site HTML form cannot post it
        r = c.request("POST", "/api/login", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                      data=f"user=reader&password={STRONG['reader']}")
        self.assert_problem(r, 415)
        r = c.request("POST", "/api/login", headers=[("Content-Type", "application/json")], data="{not json")
        self.assert_problem(r, 400)
        types = [rec["type"] for rec in b.audit_records()]
        self.assertIn("login", types)
        self.assertIn("logout", types)

    def test_wrong_password_and_unknown_user_look_the_same(self):
        b = self.start()
        c = self.client(b)
        wrong = c.login("reader", "definitely-not-it-0", expect=401)
        unknown = c.login("nobody-here", "definitely-not-it-0", expect=401)
        self.assertEqual(wrong.body, unknown.body)
        reasons = [rec["details"].get("reason") for rec in b.audit_records() if rec.get("type") == "login"]
        self.assertIn("wrong_password", reasons)
        self.assertIn("unknown_user", reasons)
        self.assertNotIn("definitely-not-it-0", b.audit_text(), "a tried password reached the audit log")
        self.assertNotIn("definitely-not-it-0", b.server.stderr_text(), "a tried password reached the log")

    def test_lockout_after_repeated_failures(self):
        b = self.start(config=[("web.login_throttle", "failures_before_slowdown", "2"),
                               ("web.login_throttle", "failures_before_lockout", "4"),
                               ("web.login_throttle", "max_delay_ms", "200"),
                               ("web.login_throttle", "lockout_seconds", "120")])
        c = self.client(b)
        for _ in range(4):
            c.login("reader", "wrong-password-guess-1", expect=401)
        r = c.login("reader", STRONG["reader"], expect=429)
        self.assertIsNotNone(r.header("retry-after"))
        self.assertGreater(int(r.header("retry-after")), 0)
        # another user from a different account is not locked by this account's lockout... but
        # the address is: the same client is locked out for every account now
        records = b.audit_records()
        self.assertTrue(any(rec["type"] == "lockout" for rec in records), "no lockout audit record")
        self.assertTrue(any(rec["type"] == "login" and rec["details"].get("reason") == "locked_out"
                            for rec in records))
        self.assertEqual(b.audit_verify().returncode, 0)

    def test_session_idle_timeout(self):
        b = self.start(config=[("web", "session_idle_seconds", "5"), ("web", "session_max_seconds", "3600")])
        c = self.client(b)
        c.login("reader", STRONG["reader"])
        self.assertEqual(c.get("/api/session").status, 200)
        # idle past the timeout (an idle timeout can only be tested by being idle)
        time.sleep(6.5)
        r = c.get("/api/session")
        self.assert_problem(r, 401)
        self.assertIn("expired", r.json()["detail"])
        self.assertIn("Max-Age=0", r.header("set-cookie") or "")

    def test_account_changes_end_sessions(self):
        b = self.start()
        c = self.client(b)
        c.login("reader", STRONG["reader"])
        self.assertEqual(c.get("/api/session").status, 200)
        p = b.cli("user", "passwd", "--data", b.data, "reader", "--password-stdin", input=b"fresh-olive-canyon-93")
        self.assertEqual(p.returncode, 0, p.out)
        self.assert_problem(c.get("/api/session"), 401)
        c2 = self.client(b, "second")
        c2.login("reader", "fresh-olive-canyon-93")
        self.assertEqual(c2.get("/api/session").status, 200)
        p = b.cli("user", "disable", "--data", b.data, "reader")
        self.assertEqual(p.returncode, 0, p.out)
        self.assert_problem(c2.get("/api/session"), 401)
        c2.login("reader", "fresh-olive-canyon-93", expect=401)

    # --- second factor -----------------------------------------------------

    def enable_totp(self, b, user):
        p = b.cli("user", "totp", "--data", b.data, user)
        self.assertEqual(p.returncode, 0, p.out)
        return p.stdout.splitlines()[0]

    def test_totp_second_factor(self):
        # Small delays: this test makes a few failures on purpose.
        b = self.start(config=[("web.login_throttle", "max_delay_ms", "200")])
        c = self.client(b)
        c.login("reader", STRONG["reader"])
        self.assertEqual(c.get("/api/session").status, 200)
        secret = self.enable_totp(b, "reader")
        # Turning the second factor on ends the sessions the password alone opened.
        self.assert_problem(c.get("/api/session"), 401)

        # The right password alone: the page is told to ask for a code; no session.
        c = self.client(b, "totp")
        r = c.login("reader", STRONG["reader"], expect=401)
        self.assert_problem(r, 401)
        self.assertIs(r.json().get("totp_required"), True)
        self.assertIsNone(r.header("set-cookie"))
        self.assert_problem(c.get("/api/session"), 401)
        # A wrong password never says a code is needed, with or without a code.
        wrong_password = c.login("reader", "definitely-not-it-0", expect=401)
        self.assertNotIn("totp_required", wrong_password.json())
        self.assertNotIn("totp_required", c.login("reader", "definitely-not-it-0", code="123456", expect=401).json())

        # Password and the current code: a session, as without a second factor.
        code = h.totp_code(secret)
        r = c.login("reader", STRONG["reader"], code=code)
        self.assertEqual(r.json()["user"], "reader")
        self.assertEqual(c.get("/api/session").status, 200)

        # The same code again (from another client): refused, like a wrong password.
        other = self.client(b, "replay")
        replayed = other.login("reader", STRONG["reader"], code=code, expect=401)
        self.assertEqual(replayed.body, wrong_password.body)
        # A code that is not in the window: refused the same way.
        window = {h.totp_code(secret, step_offset=k) for k in (-1, 0, 1)}
        wrong = next(f"{n:06d}" for n in range(1000000) if f"{n:06d}" not in window)
        self.assertEqual(other.login("reader", STRONG["reader"], code=wrong, expect=401).body, wrong_password.body)
        self.assertEqual(other.login("reader", STRONG["reader"], code="12ab56", expect=401).body,
                         wrong_password.body)
        r = other.request("POST", "/api/login", headers=[("Content-Type", "application/json")],
                          data=json.dumps({"user": "reader", "password": STRONG["reader"], "code": 123456}))
        self.assert_problem(r, 400)
        self.assert_problem(other.get("/api/session"), 401)

        records = b.audit_records()
        logins = [rec for rec in records if rec.get("type") == "login"]
        reasons = [rec["details"].get("reason") for rec in logins if rec.get("outcome") == "failure"]
        for reason in ("totp_missing", "totp_replayed", "totp_wrong"):
            self.assertIn(reason, reasons)
        self.assertTrue(any(rec.get("outcome") == "success" and rec["details"].get("second_factor") == "totp"
                            for rec in logins))
        for text in (b.audit_text(), b.server.stderr_text()):
            for secret_text in (code, wrong, secret):
                self.assertNotIn(f'"{secret_text}"', text, "a code or the secret reached a log")
            self.assertNotIn(secret, text)

        # The administrator removes the second factor: the password alone works again.
        p = b.cli("user", "totp", "--data", b.data, "reader", "--disable")
        self.assertEqual(p.returncode, 0, p.out)
        self.assert_problem(c.get("/api/session"), 401)
        c.login("reader", STRONG["reader"])
        self.assertEqual(c.get("/api/session").status, 200)
        self.assertEqual(b.audit_verify().returncode, 0)

    def test_totp_failures_count_toward_lockout(self):
        b = self.start(config=[("web.login_throttle", "failures_before_slowdown", "2"),
                               ("web.login_throttle", "failures_before_lockout", "3"),
                               ("web.login_throttle", "max_delay_ms", "200"),
                               ("web.login_throttle", "lockout_seconds", "120")])
        secret = self.enable_totp(b, "reader")
        c = self.client(b)
        # The password alone and wrong codes are failures like wrong passwords...
        c.login("reader", STRONG["reader"], expect=401)
        window = {h.totp_code(secret, step_offset=k) for k in (-1, 0, 1)}
        wrong = next(f"{n:06d}" for n in range(1000000) if f"{n:06d}" not in window)
        c.login("reader", STRONG["reader"], code=wrong, expect=401)
        c.login("reader", STRONG["reader"], code=wrong, expect=401)
        # ...so the account is now locked, even for the right password and code.
        r = c.login("reader", STRONG["reader"], code=h.totp_code(secret), expect=429)
        self.assertIsNotNone(r.header("retry-after"))
        self.assertTrue(any(rec["type"] == "lockout" for rec in b.audit_records()))

    def test_login_page_has_a_hidden_code_field(self):
        b = self.start(users=False)
        c = self.client(b)
        page = c.get("/login").body.decode()
        self.assertIn('id="code-field" hidden', page)
        self.assertIn('autocomplete="one-time-code"', page)
        script = c.get("/static/login.js").body.decode()
        self.assertIn("totp_required", script)

    # --- tokens ------------------------------------------------------------

    def test_api_token_and_revocation(self):
        b = self.start()
        p = b.cli("token", "create", "--data", b.data, "--user", "reader", "--expires", "1d")
        self.assertEqual(p.returncode, 0, p.out)
        token = p.stdout.strip()
        c = self.client(b)
        r = c.get("/api/session", token=token, cookies=False)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["kind"], "token")
        self.assertEqual(r.json()["user"], "reader")
        self.assertNotIn("csrf_token", r.json(), "a token request has no session to protect")
        token_id = token.split("_")[1]
        p = b.cli("token", "revoke", "--data", b.data, "--id", token_id)
        self.assertEqual(p.returncode, 0, p.out)
        self.assert_problem(c.get("/api/session", token=token, cookies=False), 401)
        for bad in ("bst_0000000000000000_" + "0" * 64, "not-a-token", ""):
            self.assert_problem(c.get("/api/session", token=bad, cookies=False), 401)
        r = c.get("/api/session", headers=[("Authorization", "Basic YWRtaW46YWRtaW4=")], cookies=False)
        self.assert_problem(r, 401)
        refused = [rec for rec in b.audit_records() if rec.get("type") == "token.refused"]
        self.assertTrue(any(rec["details"].get("reason") == "revoked" for rec in refused), refused)

    # --- TLS and limits ----------------------------------------------------

    def tls_context(self, b, **kw):
        ctx = ssl.create_default_context(cafile=os.path.join(b.data, "tls", "ca.pem"))
        for k, v in kw.items():
            setattr(ctx, k, v)
        return ctx

    def test_tls_policy(self):
        b = self.start(users=False)
        ctx = self.tls_context(b, maximum_version=ssl.TLSVersion.TLSv1_1, minimum_version=ssl.TLSVersion.TLSv1)
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with socket.create_connection((h.LOOPBACK, b.https_port), timeout=10) as raw:
            with self.assertRaises(ssl.SSLError):
                ctx.wrap_socket(raw, server_hostname="localhost").close()
        ctx = self.tls_context(b, maximum_version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers("AES128-SHA:AES256-SHA:ECDHE-RSA-AES128-SHA")  # CBC, not AEAD
        with socket.create_connection((h.LOOPBACK, b.https_port), timeout=10) as raw:
            with self.assertRaises(ssl.SSLError):
                ctx.wrap_socket(raw, server_hostname="localhost").close()
        ctx = self.tls_context(b, maximum_version=ssl.TLSVersion.TLSv1_2)
        with socket.create_connection((h.LOOPBACK, b.https_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                self.assertEqual(s.version(), "TLSv1.2")
                self.assertTrue("GCM" in s.cipher()[0] or "CHACHA20" in s.cipher()[0], s.cipher())

    def raw_https(self, b, payload, read_timeout=10):
        ctx = self.tls_context(b)
        raw = socket.create_connection((h.LOOPBACK, b.https_port), timeout=read_timeout)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(payload)
        return s

    @staticmethod
    def read_response(s):
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ssl.SSLError, ConnectionError):
            pass
        return data

    def test_limits_before_work(self):
        b = self.start(users=False, config=[("web", "header_timeout_seconds", "2")])
        c = self.client(b)
        r = c.get("/login", headers=[("X-Padding", "a" * 20000)])
        self.assert_problem(r, 431)
        self.assert_security_headers(r)
        r = c.request("GET", "/login", headers=[("Content-Type", "text/plain")], data="x" * 100)
        self.assert_problem(r, 413)
        r = c.request("POST", "/api/login", headers=[("Content-Type", "application/json"),
                                                     ("Content-Encoding", "gzip")], data="\x1f\x8b")
        self.assert_problem(r, 415)
        # A declared Content-Length over the limit is answered before any body byte is sent.
        s = self.raw_https(b, b"POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 5000000000\r\n\r\n")
        answer = self.read_response(s)
        s.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:200])
        # A client that sends its whole body without waiting still gets the refusal, not a
        # reset: the server reads and drops a bounded rest before it closes (lingering close).
        body = b"x" * 600_000
        for head in (b"GET /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 600000\r\n\r\n",
                     b"POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 5000000000\r\n\r\n"):
            s = self.raw_https(b, head + body)
            answer = self.read_response(s)
            s.close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:200])
        # A header that never completes loses its connection after header_timeout_seconds.
        s = self.raw_https(b, b"GET /login HTTP/1.1\r\nHost: local", read_timeout=30)
        start = time.monotonic()
        answer = self.read_response(s)
        s.close()
        self.assertEqual(answer, b"", "a partial header got an answer")
        self.assertLess(time.monotonic() - start, 25, "a slow header held the connection")
        # The server still answers others.
        self.assertEqual(c.get("/login").status, 200)

    def test_connections_per_address(self):
        b = self.start(users=False, config=[("web", "max_connections_per_address", "2")])
        held = [self.raw_https(b, b"") for _ in range(2)]
        try:
            raw = socket.create_connection((h.LOOPBACK, b.https_port), timeout=10)
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                s = self.tls_context(b).wrap_socket(raw, server_hostname="localhost")
                s.sendall(b"GET /login HTTP/1.1\r\nHost: localhost\r\n\r\n")
                if not s.recv(100):
                    raise ConnectionError("closed")
        finally:
            for s in held:
                s.close()
        h.wait_for(lambda: self.client(b).get("/login").status == 200, 10, what="a slot freed after closing")

    def test_path_parameters_cannot_traverse(self):
        b = self.start(users=False)
        c = self.client(b)
        for path in ("/static/..%2F..%2Fbastion.toml", "/static/%2e%2e", "/static/..", "/static/a%00b",
                     "/static/..%5Cbastion.toml", "/static/%zz", "/static/../../bastion.toml"):
            r = c.get(path)
            self.assertIn(r.status, (400, 404), f"{path}: {r}")
            self.assertNotIn(b"[dicom]", r.body)
        self.assert_problem(c.get("/static/..%2F..%2Fbastion.toml"), 400)
        self.assert_problem(c.get("/static/bastion.toml"), 404)

    def test_plain_http_only_on_loopback(self):
        b = self.new_bastion()
        port = h.free_port(exclude=(b.tls_port, b.plain_port, b.https_port))
        b.set_config("web", "http_listen", f'["0.0.0.0:{port}"]')
        b.start(expect_ready=False)
        rc = b.server.popen.wait(timeout=60)
        self.assertEqual(rc, 3, b.server.stderr_text())
        self.assertIn("plain HTTP", b.server.stderr_text())
        self.assertIn("http_listen", b.server.stderr_text())
        b.set_config("web", "http_listen", f'["127.0.0.1:{port}"]')
        b.start()
        c = h.WebClient(b, self.transcript, scheme="http", port=port)
        r = c.get("/login")
        self.assertEqual(r.status, 200)
        self.assert_security_headers(r, secure=False)
        self.assert_problem(c.get("/api/session"), 401)


if __name__ == "__main__":
    unittest.main()
