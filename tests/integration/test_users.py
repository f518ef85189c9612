"""People and API tokens through the real CLI: `bastion user ...`,
`bastion token ...`, and the first administrator `bastion init` creates.

What must hold: no default credentials (init prints a random admin password
exactly once, and it is stored only as an Argon2id hash); passwords and
tokens appear on stdout alone and nowhere on disk or in the audit log; weak
passwords are refused with a clear message and exit 2; every change is an
audit record and the chain stays intact.
"""

import json
import os
import re
import stat
import unittest

import harness as h

PASSWORD_RE = re.compile(r"^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){3}$")
TOKEN_RE = re.compile(r"^bst_([0-9a-f]{16})_[0-9a-f]{64}$")
STRONG = "violet-anchor-tundra-42"


class UsersTest(h.BastionTestCase):

    def users(self, b):
        p = b.cli("user", "list", "--data", b.data, "--json")
        self.assertEqual(p.returncode, 0, p.out)
        return {u["name"]: u for u in json.loads(p.stdout)}

    def tokens(self, b):
        p = b.cli("token", "list", "--data", b.data, "--json")
        self.assertEqual(p.returncode, 0, p.out)
        return {t["id"]: t for t in json.loads(p.stdout)}

    def file_text(self, b, name):
        with open(os.path.join(b.data, name)) as f:
            return f.read()

    def assert_private(self, path):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode, 0o600, f"{path} has mode {mode:o}, expected 600")

    def audit_types(self, b):
        return [r.get("type") for r in b.audit_records()]

    def assert_nowhere_on_disk(self, b, secret):
        for root, _, files in os.walk(b.data):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    self.assertNotIn(secret.encode(), f.read(), f"secret found in {os.path.join(root, name)}")

    # --- init

    def test_init_creates_the_first_admin_with_a_password_printed_once(self):
        b = self.new_bastion(init=False)
        p = b.init()
        self.assertEqual(p.returncode, 0, p.out)
        m = re.search(r"Administrator: user admin, password .*:\n\s+(\S+)\n", p.stdout)
        self.assertIsNotNone(m, f"init did not print the admin password:\n{p.stdout}")
        password = m.group(1)
        self.assertRegex(password, PASSWORD_RE)
        self.assertEqual(p.out.count(password), 1, "the admin password was printed more than once")
        users = self.users(b)
        self.assertEqual(list(users), ["admin"])
        self.assertEqual(users["admin"]["role"], "admin")
        self.assertFalse(users["admin"]["disabled"])
        self.assert_private(os.path.join(b.data, "users.json"))
        self.assertIn("$argon2id$", self.file_text(b, "users.json"))
        self.assert_nowhere_on_disk(b, password)
        self.assertIn("user.add", self.audit_types(b))
        self.assertEqual(b.audit_verify().returncode, 0)

    def test_two_inits_make_different_admin_passwords(self):
        one = self.new_bastion(init=False, name="one")
        two = self.new_bastion(init=False, name="two")
        pw = [re.search(r"password .*:\n\s+(\S+)\n", b.init().stdout).group(1) for b in (one, two)]
        self.assertNotEqual(pw[0], pw[1])

    # --- users

    def test_add_list_disable_enable_passwd(self):
        b = self.new_bastion()
        p = b.cli("user", "add", "--data", b.data, "alice", "--role", "reader")
        self.assertEqual(p.returncode, 0, p.out)
        generated = p.stdout.strip()
        self.assertRegex(generated, PASSWORD_RE, "user add must print the generated password alone on stdout")
        self.assertNotIn(generated, p.stderr)
        self.assertIn("alice", p.stderr)

        p = b.cli("user", "add", "--data", b.data, "ulla", "--role", "uploader", "--password-stdin",
                  input=(STRONG + "\n").encode())
        self.assertEqual(p.returncode, 0, p.out)
        self.assertNotIn(STRONG, p.out)
        self.assertIn("created user ulla", p.stdout)

        users = self.users(b)
        self.assertEqual(sorted(users), ["admin", "alice", "ulla"])
        self.assertEqual(users["alice"]["role"], "reader")
        self.assertEqual(users["alice"]["permissions"], ["find", "move", "get", "view"])
        self.assertEqual(users["ulla"]["permissions"], ["store"])
        for u in users.values():
            self.assertNotIn("password_hash", u)
        table = b.cli("user", "list", "--data", b.data)
        self.assertEqual(table.returncode, 0, table.out)
        self.assertRegex(table.stdout, r"alice\s+reader\s+enabled")
        self.assertNotIn("argon2", table.stdout)

        self.assertEqual(b.cli("user", "disable", "--data", b.data, "alice").returncode, 0)
        self.assertTrue(self.users(b)["alice"]["disabled"])
        self.assertRegex(b.cli("user", "list", "--data", b.data).stdout, r"alice\s+reader\s+disabled")
        self.assertEqual(b.cli("user", "enable", "--data", b.data, "alice").returncode, 0)
        self.assertFalse(self.users(b)["alice"]["disabled"])

        before = self.file_text(b, "users.json")
        p = b.cli("user", "passwd", "--data", b.data, "alice")
        self.assertEqual(p.returncode, 0, p.out)
        new = p.stdout.strip()
        self.assertRegex(new, PASSWORD_RE)
        self.assertNotEqual(new, generated)
        self.assertNotEqual(before, self.file_text(b, "users.json"))
        p = b.cli("user", "passwd", "--data", b.data, "ulla", "--password-stdin",
                  input=b"saffron-glacier-meadow-7\n")
        self.assertEqual(p.returncode, 0, p.out)

        self.assert_private(os.path.join(b.data, "users.json"))
        for secret in (generated, new, STRONG, "saffron-glacier-meadow-7"):
            self.assert_nowhere_on_disk(b, secret)
        types = self.audit_types(b)
        for t in ("user.add", "user.disable", "user.enable", "user.passwd"):
            self.assertIn(t, types)
        self.assertEqual(types.count("user.passwd"), 2)
        self.assertEqual(b.audit_verify().returncode, 0)

    def test_weak_passwords_refused_with_a_clear_message(self):
        b = self.new_bastion()
        cases = [
            ("short-1", "at least 12"),
            ("Password1234", "too common"),
            ("Welcome2024!!", "too common"),
            ("aaaaaaaaaaaaaaa", "repeated"),
            ("abcdefghijklmnop", "sequence"),
            ("xx-carol-2026-yy", "user name"),
        ]
        for weak, why in cases:
            with self.subTest(weak=weak):
                p = b.cli("user", "add", "--data", b.data, "carol", "--role", "reader", "--password-stdin",
                          input=(weak + "\n").encode())
                self.assertEqual(p.returncode, 2, p.out)
                self.assertIn(why, p.stderr)
                self.assertNotIn(weak, p.out, "the refusal must not echo the password")
        self.assertNotIn("carol", self.users(b))
        p = b.cli("user", "passwd", "--data", b.data, "admin", "--password-stdin", input=b"password1234\n")
        self.assertEqual(p.returncode, 2, p.out)
        self.assertIn("too common", p.stderr)

    def test_usage_errors_and_unknown_users(self):
        b = self.new_bastion()
        p = b.cli("user", "add", "--data", b.data, "bad name", "--role", "reader")
        self.assertEqual(p.returncode, 2, p.out)
        self.assertIn("user name", p.stderr)
        p = b.cli("user", "add", "--data", b.data, "dave", "--role", "root")
        self.assertEqual(p.returncode, 2, p.out)
        self.assertIn("admin, reader, uploader, auditor", p.stderr)
        p = b.cli("user", "add", "--data", b.data, "admin", "--role", "reader")
        self.assertEqual(p.returncode, 1, p.out)
        self.assertIn("already exists", p.stderr)
        self.assertEqual(p.stdout, "", "no password printed for a user that was not created")
        for cmd in (("disable",), ("enable",), ("passwd",)):
            p = b.cli("user", *cmd, "--data", b.data, "nobody")
            self.assertEqual(p.returncode, 1, p.out)
            self.assertIn("no user named nobody", p.stderr)
            self.assertEqual(p.stdout, "")
        p = b.cli("user", "list", "--data", os.path.join(self.tmp, "missing"))
        self.assertNotEqual(p.returncode, 0)

    def test_corrupt_or_exposed_users_file(self):
        b = self.new_bastion()
        path = os.path.join(b.data, "users.json")
        os.chmod(path, 0o644)
        p = b.cli("user", "list", "--data", b.data)
        self.assertEqual(p.returncode, 3, p.out)
        self.assertIn("chmod 600", p.stderr)
        os.chmod(path, 0o600)
        with open(path, "w") as f:
            f.write("{ not json")
        p = b.cli("user", "add", "--data", b.data, "erin", "--role", "reader")
        self.assertEqual(p.returncode, 1, p.out)
        self.assertIn("not a valid user file", p.stderr)
        self.assertEqual(p.stdout, "")

    # --- second factor

    def test_totp_enable_rekey_list_disable(self):
        b = self.new_bastion()
        p = b.cli("user", "add", "--data", b.data, "alice", "--role", "reader", "--password-stdin",
                  input=(STRONG + "\n").encode())
        self.assertEqual(p.returncode, 0, p.out)
        self.assertFalse(self.users(b)["alice"]["totp"])

        p = b.cli("user", "totp", "--data", b.data, "alice")
        self.assertEqual(p.returncode, 0, p.out)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 2, "totp prints the secret and the URI, each alone on a line")
        secret, uri = lines
        self.assertRegex(secret, r"^[A-Z2-7]{32}$", "a 160-bit secret in base32")
        self.assertEqual(uri, f"otpauth://totp/Bastion:alice?secret={secret}&issuer=Bastion"
                              "&algorithm=SHA1&digits=6&period=30")
        self.assertNotIn(secret, p.stderr)
        self.assertIn("shown only this once", p.stderr)

        users = self.users(b)
        self.assertTrue(users["alice"]["totp"])
        self.assertFalse(users["admin"]["totp"])
        self.assertNotIn("totp_secret", users["alice"])
        self.assertNotIn(secret, b.cli("user", "list", "--data", b.data, "--json").stdout)
        self.assertRegex(b.cli("user", "list", "--data", b.data).stdout, r"alice\s+reader\s+enabled\s+on")
        self.assertRegex(b.cli("user", "list", "--data", b.data).stdout, r"admin\s+admin\s+enabled\s+off")
        path = os.path.join(b.data, "users.json")
        self.assert_private(path)
        doc = json.loads(self.file_text(b, "users.json"))
        self.assertEqual(doc["version"], 2)

        # Again: a new secret replaces the old one.
        p = b.cli("user", "totp", "--data", b.data, "alice")
        self.assertEqual(p.returncode, 0, p.out)
        second = p.stdout.splitlines()[0]
        self.assertNotEqual(second, secret)
        self.assertIn("replaced", p.stderr)

        p = b.cli("user", "totp", "--data", b.data, "alice", "--disable")
        self.assertEqual(p.returncode, 0, p.out)
        self.assertFalse(self.users(b)["alice"]["totp"])
        self.assertNotIn(second, self.file_text(b, "users.json"))
        p = b.cli("user", "totp", "--data", b.data, "alice", "--disable")
        self.assertEqual(p.returncode, 0, p.out)
        self.assertIn("nothing changed", p.stdout)

        records = b.audit_records()
        enables = [r for r in records if r.get("type") == "user.totp.enable"]
        self.assertEqual([r["details"].get("rekey") for r in enables], [False, True])
        self.assertEqual([r["details"].get("user") for r in enables], ["alice", "alice"])
        self.assertEqual([r.get("type") for r in records].count("user.totp.disable"), 1)
        audit = b.audit_text()
        for s in (secret, second):
            self.assertNotIn(s, audit, "a TOTP secret reached the audit log")
        self.assertEqual(b.audit_verify().returncode, 0)

    def test_totp_usage_errors(self):
        b = self.new_bastion()
        p = b.cli("user", "totp", "--data", b.data, "nobody")
        self.assertEqual(p.returncode, 1, p.out)
        self.assertIn("no user named nobody", p.stderr)
        self.assertEqual(p.stdout, "", "no secret printed for a user that does not exist")
        p = b.cli("user", "totp", "--data", b.data, "nobody", "--disable")
        self.assertEqual(p.returncode, 1, p.out)
        p = b.cli("user", "totp", "--data", b.data, "bad name")
        self.assertEqual(p.returncode, 2, p.out)
        p = b.cli("user", "totp", "--data", b.data)
        self.assertEqual(p.returncode, 2, p.out)
        p = b.cli("user", "totp", "--help")
        self.assertEqual(p.returncode, 0, p.out)
        self.assertIn("--disable", p.stdout)
        self.assertFalse([r for r in b.audit_records() if r.get("type", "").startswith("user.totp")])

    def test_version_1_users_file_still_works(self):
        # A file written before the second factor existed: read as is, version 2 after the next change.
        b = self.new_bastion()
        path = os.path.join(b.data, "users.json")
        doc = json.loads(self.file_text(b, "users.json"))
        doc["version"] = 1
        with open(path, "w") as f:
            json.dump(doc, f)
        os.chmod(path, 0o600)
        self.assertIn("admin", self.users(b))
        self.assertEqual(json.loads(self.file_text(b, "users.json"))["version"], 1)
        p = b.cli("user", "add", "--data", b.data, "alice", "--role", "reader")
        self.assertEqual(p.returncode, 0, p.out)
        doc = json.loads(self.file_text(b, "users.json"))
        self.assertEqual(doc["version"], 2)
        self.assertEqual(sorted(u["name"] for u in doc["users"]), ["admin", "alice"])
        self.assert_private(path)

    # --- tokens

    def test_token_create_list_revoke(self):
        b = self.new_bastion()
        self.assertEqual(b.cli("user", "add", "--data", b.data, "alice", "--role", "reader").returncode, 0)
        p = b.cli("token", "create", "--data", b.data, "--user", "alice", "--expires", "30d", "--note", "nightly")
        self.assertEqual(p.returncode, 0, p.out)
        token = p.stdout.strip()
        m = TOKEN_RE.match(token)
        self.assertIsNotNone(m, f"token create must print the token alone on stdout, got {p.stdout!r}")
        self.assertEqual(p.stdout, token + "\n")
        token_id = m.group(1)
        self.assertNotIn(token, p.stderr)

        tokens = self.tokens(b)
        self.assertEqual(list(tokens), [token_id])
        t = tokens[token_id]
        self.assertEqual((t["user"], t["state"], t["note"]), ("alice", "active", "nightly"))
        listing = b.cli("token", "list", "--data", b.data)
        self.assertIn(token_id, listing.stdout)
        self.assertNotIn(token[21:], listing.out, "token list shows the secret")
        self.assert_private(os.path.join(b.data, "tokens.json"))
        self.assert_nowhere_on_disk(b, token[21:])

        p = b.cli("token", "revoke", "--data", b.data, "--id", token_id)
        self.assertEqual(p.returncode, 0, p.out)
        self.assertEqual(self.tokens(b)[token_id]["state"], "revoked")
        p = b.cli("token", "revoke", "--data", b.data, "--id", "0123456789abcdef")
        self.assertEqual(p.returncode, 1, p.out)
        self.assertIn("no token", p.stderr)

        types = self.audit_types(b)
        self.assertIn("token.create", types)
        self.assertIn("token.revoke", types)
        self.assertNotIn(token[21:], b.audit_text())
        self.assertEqual(b.audit_verify().returncode, 0)

    def test_token_expiry_is_required_and_bounded(self):
        b = self.new_bastion()
        p = b.cli("token", "create", "--data", b.data, "--user", "admin")
        self.assertEqual(p.returncode, 2, p.out)
        for bad in ("400d", "0h", "forever", "30"):
            with self.subTest(expires=bad):
                p = b.cli("token", "create", "--data", b.data, "--user", "admin", "--expires", bad)
                self.assertEqual(p.returncode, 2, p.out)
                self.assertEqual(p.stdout, "")
        p = b.cli("token", "create", "--data", b.data, "--user", "nobody", "--expires", "1d")
        self.assertEqual(p.returncode, 1, p.out)
        self.assertIn("no user named nobody", p.stderr)
        self.assertEqual(b.cli("user", "disable", "--data", b.data, "admin").returncode, 0)
        p = b.cli("token", "create", "--data", b.data, "--user", "admin", "--expires", "1d")
        self.assertEqual(p.returncode, 2, p.out)
        self.assertIn("disabled", p.stderr)
        self.assertEqual(self.tokens(b), {})

    def test_the_server_still_starts_with_users_and_tokens(self):
        b = self.new_bastion()
        self.assertEqual(b.cli("user", "add", "--data", b.data, "alice", "--role", "reader").returncode, 0)
        self.assertEqual(
            b.cli("token", "create", "--data", b.data, "--user", "alice", "--expires", "1d").returncode, 0)
        b.start()
        b.stop()


if __name__ == "__main__":
    unittest.main()
