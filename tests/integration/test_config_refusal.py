"""Refuse to be misconfigured: plain DICOM off loopback with a node allowed
from an address range makes `serve` exit 3 and explain; with exact-address
nodes only it starts. `bastion init` never overwrites an existing directory.

Servers bound to 0.0.0.0 run inside a private network namespace
(`unshare -n`, only `lo`) so that nothing ever listens beyond loopback on
the test machine."""

import hashlib
import os
import re
import stat
import subprocess
import unittest

import harness as h

NETNS = ("unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh")


def netns_available():
    return h.namespace_available("-n")


def tree_digest(root):
    out = {}
    for path in h.all_files(root):
        with open(path, "rb") as f:
            out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


class ConfigRefusalTest(h.BastionTestCase):

    def public_plain(self):
        if not netns_available():
            self.skipTest("needs root and unshare/nsenter to keep a 0.0.0.0 listener inside a private netns")
        b = self.new_bastion(init_args=("--plain-bind", "0.0.0.0"))
        self.assertIn("0.0.0.0", b.config_text(), "init --plain-bind 0.0.0.0 not reflected in bastion.toml")
        return b

    def test_public_plain_with_range_node_refused(self):
        b = self.public_plain()
        b.node_add("LEGACY", host="127.0.0.1", allow="echo,store")
        # registering a range node while plain DICOM is public: refused, registry unchanged
        p = b.node_add("WARD", host="10.0.0.0/8", allow="echo,store", check=False)
        self.assertNotEqual(p.returncode, 0, f"node add of a range node with plain DICOM on 0.0.0.0: {p.out}")
        self.assertNotIn("WARD", str(b.node_list(as_json=True)))

        # the same state reached by editing bastion.toml afterwards: serve must refuse
        b2 = self.new_bastion(name="edited")
        b2.node_add("LEGACY", host="127.0.0.1", allow="echo,store")
        b2.node_add("WARD", host="10.0.0.0/8", allow="echo,store")  # written to the registry, never contacted
        b2.set_config("dicom", "plain_listen", f'["0.0.0.0:{b2.plain_port}"]')
        self.refused_then_fixed(b2)

    def refused_then_fixed(self, b):
        server = b.start(expect_ready=False, wrapper=NETNS)
        try:
            rc = server.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail(f"serve kept running with plain DICOM on 0.0.0.0 and a 10.0.0.0/8 node:\n"
                      f"{server.stdout_text()}\n{server.stderr_text()[-3000:]}")
        server._reader.join(timeout=5)
        err = server.stderr_text()
        self.assertEqual(rc, 3, f"serve exit code {rc}, expected 3\nstderr:\n{err}")
        self.assertIsNone(server.ready_line, "serve printed ready: before refusing")
        self.assertTrue("WARD" in err or "10.0.0.0/8" in err,
                        f"stderr does not say which node is the problem:\n{err}")
        self.assertIn("plain", err.lower(), f"stderr does not say what is wrong:\n{err}")
        self.assertTrue(re.search(r"plain_listen|--host|--tls-only|node", err),
                        f"stderr does not say how to fix it:\n{err}")

        # fixing it as told (the range node TLS-only) makes it start
        b.node_remove("WARD")
        b.node_add("WARD", host="10.0.0.0/8", allow="echo,store", tls_only=True)
        b.start(wrapper=NETNS)
        b.stop()

    def test_public_plain_with_exact_nodes_starts(self):
        b = self.public_plain()
        b.node_add("LEGACY", host="127.0.0.1", allow="echo")
        b.node_add("CT1", host="10.1.2.3", allow="echo,store")
        server = b.start(wrapper=NETNS)
        self.assertIn(f"dicom=0.0.0.0:{b.plain_port}", server.ready_line)
        # inside the namespace the plain port answers the registered node
        p = h.run(["nsenter", "-t", str(server.popen.pid), "-n", "echoscu", "-v", "-aet", "LEGACY",
                   "-aec", "BASTION", "-to", "10", h.LOOPBACK, str(b.plain_port)],
                  env=h.TOOL_ENV, transcript=self.transcript, timeout=60)
        self.assertEchoOk(p, "inside the server's network namespace")
        b.stop()

    def test_default_config_is_loopback_and_starts_with_no_nodes(self):
        b = self.new_bastion()
        cfg = b.config_text()
        self.assertRegex(cfg, r'plain_listen\s*=\s*\[\s*"127\.0\.0\.1:%d"' % b.plain_port)
        server = b.start()
        self.assertIn(f"dicom=127.0.0.1:{b.plain_port}", server.ready_line)
        self.assertIn("ae=BASTION", server.ready_line)
        b.stop()

    def test_init_layout_and_key_modes(self):
        b = self.new_bastion()
        for rel in ("bastion.toml", "nodes.json", "tls/ca.pem", "tls/ca-key.pem", "tls/server.pem",
                    "tls/server-key.pem", "catalog/catalog.db", "audit/audit.log"):
            self.assertTrue(os.path.isfile(os.path.join(b.data, rel)), f"init did not create {rel}")
        self.assertTrue(os.path.isdir(os.path.join(b.data, "blobs")))
        for rel in ("tls/ca-key.pem", "tls/server-key.pem"):
            mode = stat.S_IMODE(os.stat(os.path.join(b.data, rel)).st_mode)
            self.assertEqual(mode & 0o077, 0, f"{rel} is readable by group/others (mode {mode:o})")
        # the server certificate chains to the CA
        p = h.run(["openssl", "verify", "-CAfile", os.path.join(b.data, "tls/ca.pem"),
                   os.path.join(b.data, "tls/server.pem")])
        self.assertEqual(p.returncode, 0, p.out)

    def test_init_refuses_existing_nonempty_directory(self):
        target = os.path.join(self.tmp, "existing")
        os.makedirs(target)
        with open(os.path.join(target, "precious.txt"), "w") as f:
            f.write("do not touch\n")
        before = tree_digest(target)
        p = h.run([h.BASTION_BIN, "init", "--data", target, "--tls-bind", h.LOOPBACK], transcript=self.transcript)
        self.assertNotEqual(p.returncode, 0, f"init into a non-empty directory succeeded:\n{p.out}")
        self.assertTrue(p.stderr.strip(), "init refused without saying why on stderr")
        self.assertEqual(tree_digest(target), before, "init changed a non-empty directory it refused")

    def test_init_refuses_existing_data_directory(self):
        b = self.new_bastion()
        b.node_add("MODALITY1", allow="echo")
        before = tree_digest(b.data)
        p = b.init()
        self.assertNotEqual(p.returncode, 0, f"second init over a data directory succeeded:\n{p.out}")
        self.assertEqual(tree_digest(b.data), before, "a refused init changed the data directory")
        # the data directory still works
        b.start()
        self.assertEchoOk(b.echo("MODALITY1"))
        b.stop()

    def test_init_into_empty_directory(self):
        target = os.path.join(self.tmp, "empty")
        os.makedirs(target)
        p = h.run([h.BASTION_BIN, "init", "--data", target, "--tls-bind", h.LOOPBACK,
                   "--tls-port", str(h.free_port()), "--plain-port", str(h.free_port())],
                  transcript=self.transcript)
        self.assertEqual(p.returncode, 0, f"init into an existing empty directory: {p.out}")
        self.assertTrue(os.path.isfile(os.path.join(target, "bastion.toml")))

    def test_usage_errors_exit_2(self):
        p = h.run([h.BASTION_BIN, "serve", "--no-such-option"], transcript=self.transcript)
        self.assertEqual(p.returncode, 2, p.out)
        p = h.run([h.BASTION_BIN, "node", "add", "--data", self.tmp], transcript=self.transcript)
        self.assertEqual(p.returncode, 2, f"node add without --ae/--host/--allow: {p.out}")
        for args in (["--help"], ["serve", "--help"], ["node", "add", "--help"], ["import", "--help"],
                     ["audit", "verify", "--help"], ["init", "--help"], ["node", "cert", "--help"]):
            p = h.run([h.BASTION_BIN, *args], transcript=self.transcript)
            self.assertEqual(p.returncode, 0, f"bastion {' '.join(args)}: rc={p.returncode}\n{p.out}")
            self.assertIn("--", p.stdout, f"bastion {' '.join(args)} printed no usage on stdout")

    def test_invalid_node_arguments_refused(self):
        b = self.new_bastion()
        for host in ("not-an-address", "example.org", "10.0.0.0/33", "300.1.1.1"):
            p = b.node_add("BAD", host=host, allow="echo", check=False)
            self.assertNotEqual(p.returncode, 0, f"node add --host {host} accepted: {p.out}")
        p = b.node_add("BAD", host="127.0.0.1", allow="echo,teleport", check=False)
        self.assertNotEqual(p.returncode, 0, f"node add --allow teleport accepted: {p.out}")
        p = b.node_add("WAY_TOO_LONG_AE_TITLE", host="127.0.0.1", allow="echo", check=False)
        self.assertNotEqual(p.returncode, 0, f"17-character AE title accepted: {p.out}")
        listing = b.node_list(as_json=True)
        entries = listing.get("nodes", []) if isinstance(listing, dict) else listing
        self.assertEqual(len(entries), 0, f"refused node add left entries: {listing}")
        # certificates only for registered nodes
        p = b.cli("node", "cert", "--data", b.data, "--ae", "NOTREGISTERED", "--out", os.path.join(self.tmp, "nr"))
        self.assertNotEqual(p.returncode, 0, f"node cert for an unregistered AE succeeded: {p.out}")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "nr", "key.pem")))


    def test_commands_refuse_a_data_directory_of_another_user(self):
        """`sudo bastion node add` on the service's directory would leave root-owned files serve cannot read."""
        if os.geteuid() != 0:
            self.skipTest("giving the directory to another user needs root")
        b = self.new_bastion()
        nodes = os.path.join(b.data, "nodes.json")
        before = os.stat(nodes)
        os.chown(b.data, 65534, 65534)  # nobody
        try:
            for args in (["node", "add", "--data", b.data, "--ae", "CT1", "--host", "127.0.0.1", "--allow", "echo"],
                         ["tls", "renew", "--data", b.data], ["audit", "verify", "--data", b.data]):
                p = b.cli(*args)
                self.assertEqual(p.returncode, 1, f"{args}: {p.out}")
                self.assertIn("belongs to nobody", p.out)
                self.assertIn("sudo -u nobody bastion", p.out)
            server = b.start(expect_ready=False)
            self.assertEqual(server.popen.wait(timeout=30), 1)
            server._reader.join(timeout=5)
            self.assertIn("belongs to nobody", server.stderr_text())
            after = os.stat(nodes)
            self.assertEqual((after.st_ino, after.st_mtime_ns), (before.st_ino, before.st_mtime_ns))
        finally:
            os.chown(b.data, 0, 0)
        p = b.cli("node", "list", "--data", b.data)
        self.assertEqual(p.returncode, 0, p.out)


if __name__ == "__main__":
    unittest.main()
