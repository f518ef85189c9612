"""Server certificate lifetime: an expired certificate is refused at start-up
with a plain explanation (instead of opaque TLS handshake failures for every
peer), one about to expire is warned about, and `bastion tls renew` issues it
again from the local CA, which a running server takes up at its next TLS
connection, over DICOM and HTTPS, without a restart."""

import datetime
import hashlib
import json
import os
import signal
import socket
import ssl
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import harness as h


def write_self_signed(directory, not_before, not_after):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "BASTION")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before)
            .not_valid_after(not_after).sign(key, hashes.SHA256()))
    with open(os.path.join(directory, "server.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(directory, "server-key.pem"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))


def write_locally_issued(tls_dir, not_before, not_after, server_auth_only=False):
    """A server certificate for the current key, signed by the data directory's own CA
    (with `server_auth_only`, as `bastion init` made them before 2026-11-22)."""
    with open(os.path.join(tls_dir, "ca.pem"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(tls_dir, "ca-key.pem"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    with open(os.path.join(tls_dir, "server-key.pem"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "BASTION")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False))
    if server_auth_only:
        cert = cert.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    cert = cert.sign(ca_key, hashes.SHA256())
    with open(os.path.join(tls_dir, "server.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def replace_file(path, data):
    """As an administrator's tool would: a new file renamed over the old one."""
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class CertificateLifetimeTest(h.BastionTestCase):

    def tls_dir(self, b):
        return os.path.join(b.data, "tls")

    def test_expired_server_certificate_refused(self):
        b = self.new_bastion()
        now = datetime.datetime.now(datetime.timezone.utc)
        write_self_signed(self.tls_dir(b), now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
        server = b.start(expect_ready=False)
        rc = server.popen.wait(timeout=30)
        server._reader.join(timeout=5)
        err = server.stderr_text()
        self.assertEqual(rc, 3, f"serve exit code {rc}, expected 3\nstderr:\n{err}")
        self.assertIsNone(server.ready_line, "serve printed ready: with an expired certificate")
        self.assertIn("expired", err)
        self.assertIn("server.pem", err)
        # not issued by the local CA: renewing it is the job of the PKI that did
        self.assertIn("renew it with the PKI that issued it", err)
        renew = b.cli("tls", "renew", "--data", b.data)
        self.assertEqual(renew.returncode, 1, renew.out)
        self.assertIn("was not issued by the local CA", renew.out)

    def test_certificate_expiring_soon_is_warned_about(self):
        b = self.new_bastion()
        now = datetime.datetime.now(datetime.timezone.utc)
        write_self_signed(self.tls_dir(b), now - datetime.timedelta(days=1), now + datetime.timedelta(days=10))
        server = b.start()
        echo = b.echo("NOBODY")  # the server works meanwhile (and rejects an unknown AE as usual)
        self.assertNoAssociation(echo)
        b.stop()
        self.assertRegex(server.stderr_text(), r"server certificate .*server\.pem expires in \d+ days")


    def test_expired_local_certificate_is_renewed_and_served(self):
        """The day a site finds its certificate expired: serve says what to run, and after it starts."""
        b = self.new_bastion()
        b.node_add("CT1", allow="echo")
        client = b.node_cert("CT1")
        now = datetime.datetime.now(datetime.timezone.utc)
        write_locally_issued(self.tls_dir(b), now - datetime.timedelta(days=900), now - datetime.timedelta(days=2))
        server = b.start(expect_ready=False)
        self.assertEqual(server.popen.wait(timeout=30), 3)
        server._reader.join(timeout=5)
        self.assertIn(f"renew it with: bastion tls renew --data {b.data}", server.stderr_text())

        key_before = read_bytes(os.path.join(self.tls_dir(b), "server-key.pem"))
        renew = b.cli("tls", "renew", "--data", b.data, "--days", "10")
        self.assertEqual(renew.returncode, 0, renew.out)
        self.assertEqual(read_bytes(os.path.join(self.tls_dir(b), "server-key.pem")), key_before,
                         "the key changed without --new-key")
        server = b.start()
        self.assertEchoOk(b.echo("CT1", tls=client))
        self.assertEqual(self.served_dicom(b, client), h.cert_sha256(os.path.join(self.tls_dir(b), "server.pem")))
        b.stop()
        # ten days: the warning now names the command
        self.assertRegex(server.stderr_text(),
                         r"server certificate .*server\.pem expires in \d+ days, on .*; renew it with: "
                         r"bastion tls renew --data ")

    def node_certificate(self, b, client, name, ends):
        """A certificate for the node's key from the local CA, valid until `ends`."""
        with open(os.path.join(self.tls_dir(b), "ca.pem"), "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(self.tls_dir(b), "ca-key.pem"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), password=None)
        with open(client.key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CT1")]))
                .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(ends - datetime.timedelta(days=900)).not_valid_after(ends)
                .sign(ca_key, hashes.SHA256()))
        files = h.TlsFiles(client.key, os.path.join(self.tmp, name), client.ca)
        with open(files.cert, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        return files

    def test_expired_node_certificate_is_named_as_such(self):
        """A modality that stopped connecting: the log and audit say its certificate expired, and when."""
        b = self.new_bastion()
        b.node_add("CT1", allow="echo")
        client = b.node_cert("CT1")
        now = datetime.datetime.now(datetime.timezone.utc)
        ended = (now - datetime.timedelta(days=3)).replace(microsecond=0)
        expired = self.node_certificate(b, client, "expired.pem", ended)
        server = b.start()
        self.assertNoAssociation(b.echo("CT1", tls=expired))
        self.assertEchoOk(b.echo("CT1", tls=client), "with the certificate that is still valid")
        b.stop()
        why = "client certificate CN=CT1: certificate has expired on " + ended.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.assertIn(why, server.stderr_text())
        self.assertTrue([r for r in b.audit_records() if r.get("type") == "association"
                         and why in r["details"].get("why", "")])

    def test_node_certificate_near_its_end_is_warned_about(self):
        """Node certificates issued together end together: the log says so a month ahead, once a day."""
        b = self.new_bastion()
        b.node_add("CT1", allow="echo")
        client = b.node_cert("CT1")
        now = datetime.datetime.now(datetime.timezone.utc)
        ends = (now + datetime.timedelta(days=10, hours=1)).replace(microsecond=0)
        soon = self.node_certificate(b, client, "soon.pem", ends)
        server = b.start()
        self.assertEchoOk(b.echo("CT1", tls=client), "with the certificate valid for 825 days")
        for _ in range(2):
            self.assertEchoOk(b.echo("CT1", tls=soon), "with the certificate that ends in 10 days")
        b.stop()
        log = server.stderr_text()
        warning = (f"node CT1: its client certificate (SHA-256 {h.cert_sha256(soon.cert)}) expires in 10 days, on "
                   + ends.strftime("%Y-%m-%dT%H:%M:%SZ") + "; issue a new one with bastion node cert --ae CT1")
        self.assertEqual(log.count(warning), 1, log)
        self.assertEqual(log.count("its client certificate"), 1, "the 825-day certificate was warned about")
        ends_seen = [r["details"].get("client_cert_not_after") for r in b.audit_records()
                     if r.get("type") == "association" and r.get("outcome") == "success"]
        self.assertEqual(ends_seen.count(ends.strftime("%Y-%m-%dT%H:%M:%SZ")), 2, ends_seen)

    def served_dicom(self, b, client):
        """SHA-256 of the certificate the DICOM TLS port presents (a handshake with the node's certificate)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(client.ca)
        ctx.load_cert_chain(client.cert, client.key)
        ctx.check_hostname = False
        with socket.create_connection((h.LOOPBACK, b.tls_port), timeout=20) as raw:
            with ctx.wrap_socket(raw) as tls:
                return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()

    def served_https(self, b):
        pem = ssl.get_server_certificate((h.LOOPBACK, b.https_port), timeout=20)
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()

    def test_renew_while_serving(self):
        b = self.new_bastion()
        b.node_add("CT1", allow="echo")
        client = b.node_cert("CT1")
        server = b.start()
        cert_path = os.path.join(self.tls_dir(b), "server.pem")
        key_path = os.path.join(self.tls_dir(b), "server-key.pem")
        first = h.cert_sha256(cert_path)
        self.assertEqual(self.served_dicom(b, client), first)
        self.assertEqual(self.served_https(b), first)

        # renewed with the same key and one more name: the next connections get it
        renew = b.cli("tls", "renew", "--data", b.data, "--days", "20", "--add-host", "pacs.example.test,192.0.2.7")
        self.assertEqual(renew.returncode, 0, renew.out)
        second = h.cert_sha256(cert_path)
        self.assertNotEqual(second, first)
        self.assertIn(second, renew.stdout)
        self.assertEqual(self.served_dicom(b, client), second)
        self.assertEqual(self.served_https(b), second)
        self.assertEchoOk(b.echo("CT1", tls=client), "after the renewal (the node trusts tls/ca.pem)")
        shown = b.cli("tls", "show", "--data", b.data, "--json")
        self.assertEqual(shown.returncode, 0, shown.out)
        cert = [c for c in json.loads(shown.stdout) if c["what"] == "server certificate"][0]
        self.assertEqual(cert["sha256"], second)
        self.assertIn(cert["days_left"], (19, 20))
        self.assertTrue(cert["issued_by_local_ca"])
        self.assertTrue(cert["client_auth"])
        self.assertIn("pacs.example.test", cert["dns_names"])
        self.assertIn("localhost", cert["dns_names"])
        self.assertEqual(cert["ip_addresses"][:2], ["127.0.0.1", "::1"])
        self.assertIn("192.0.2.7", cert["ip_addresses"])

        # a new key as well
        key_before = read_bytes(key_path)
        renew = b.cli("tls", "renew", "--data", b.data, "--new-key")
        self.assertEqual(renew.returncode, 0, renew.out)
        self.assertNotEqual(read_bytes(key_path), key_before)
        self.assertEqual(os.stat(key_path).st_mode & 0o777, 0o600)
        third = h.cert_sha256(cert_path)
        self.assertEqual(self.served_dicom(b, client), third)
        self.assertEqual(self.served_https(b), third)
        self.assertEchoOk(b.echo("CT1", tls=client))

        # a damaged certificate file is not applied: the last good one stays in force, said once
        replace_file(cert_path, b"not a certificate\n")
        for _ in range(2):
            self.assertEchoOk(b.echo("CT1", tls=client), "with a damaged server.pem on disk")
        self.assertEqual(self.served_https(b), third)
        log = server.stderr_text()
        self.assertEqual(log.count("DICOM over TLS: the [tls] files changed but were not loaded"), 1, log)
        self.assertEqual(log.count("HTTPS: the [tls] files changed but were not loaded"), 1, log)
        # SIGHUP tries again, says so, and keeps serving
        server.popen.send_signal(signal.SIGHUP)
        h.wait_for(lambda: "so the server keeps those it loaded last" in server.stderr_text(), 20,
                   what="the SIGHUP check of damaged files")
        self.assertIn("SIGHUP: TLS files not reloaded, keeping the previous ones", server.stderr_text())
        self.assertEchoOk(b.echo("CT1", tls=client), "after SIGHUP with a damaged server.pem")
        self.assertEqual(self.served_dicom(b, client), third)
        # and renew makes a good one again, with the names `bastion init` gives
        renew = b.cli("tls", "renew", "--data", b.data)
        self.assertEqual(renew.returncode, 0, renew.out)
        self.assertIn("is unreadable", renew.out)
        fourth = h.cert_sha256(cert_path)
        self.assertEqual(self.served_dicom(b, client), fourth)
        self.assertEchoOk(b.echo("CT1", tls=client))

        # SIGHUP loads the files again too
        server.popen.send_signal(signal.SIGHUP)
        h.wait_for(lambda: server.stderr_text().count(f"DICOM over TLS: TLS certificate {cert_path}") >= 5, 20,
                   what="the SIGHUP reload")
        self.assertEchoOk(b.echo("CT1", tls=client))

        renewals = [r for r in b.audit_records() if r.get("type") == "tls.renew"]
        self.assertEqual([r["details"]["cert_sha256"] for r in renewals], [second, third, fourth], renewals)
        self.assertEqual(renewals[0]["details"]["previous_sha256"], first)
        self.assertEqual([r["details"]["new_key"] for r in renewals], ["no", "yes", "no"])
        self.assertEqual(b.audit_verify().returncode, 0)
        b.stop()

    def test_certificate_purposes(self):
        """Bastion's certificate serves as a client one too; a node's, as a server one only if it receives."""
        b = self.new_bastion()
        b.node_add("CT1", allow="echo,store")
        b.node_add("WS1", allow="echo,find,receive", port=h.free_port())
        modality, workstation = b.node_cert("CT1"), b.node_cert("WS1")
        self.assertIn("presents the certificate as a TLS server too", workstation.cli_output)
        ca = os.path.join(self.tls_dir(b), "ca.pem")

        def verify(purpose, cert):
            return h.run(["openssl", "verify", "-purpose", purpose, "-CAfile", ca, cert]).returncode == 0

        server = os.path.join(self.tls_dir(b), "server.pem")
        self.assertTrue(verify("sslserver", server))
        self.assertTrue(verify("sslclient", server), "Bastion connects to C-MOVE destinations with it")
        self.assertTrue(verify("sslclient", modality.cert))
        self.assertFalse(verify("sslserver", modality.cert), "a modality's certificate could pose as a server")
        self.assertTrue(verify("sslclient", workstation.cert))
        self.assertTrue(verify("sslserver", workstation.cert))

    def test_an_upgraded_site_is_told_to_renew_for_tls_destinations(self):
        """A server certificate without clientAuth cannot open TLS to a C-MOVE destination: S4 says so."""
        b = self.new_bastion()
        b.node_add("WS1", allow="echo,receive", port=h.free_port(), tls_only=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        write_locally_issued(self.tls_dir(b), now - datetime.timedelta(days=100), now + datetime.timedelta(days=700),
                             server_auth_only=True)

        def s4():
            p = b.cli("scan", "--self", "--data", b.data, "--format", "json", timeout=240)
            # serve is not running: its listeners cannot be reached (exit 1), the inside checks still run
            self.assertIn(p.returncode, (1, 10, 11, 12, 13), p.out[-3000:])
            with open(os.path.join(b.data, "self-scan", "latest.json")) as f:
                return [x for x in json.load(f)["findings"] if x["id"] == "S4"]

        shown = b.cli("tls", "show", "--data", b.data)
        self.assertIn("not valid for TLS clients", shown.stdout)
        found = [x for x in s4() if "not valid for TLS clients" in x["title"]]
        self.assertEqual(len(found), 1, found)
        self.assertEqual(found[0]["severity"], "medium")
        self.assertIn("WS1", found[0]["title"])
        self.assertIn("bastion tls renew", found[0]["fix"])
        renew = b.cli("tls", "renew", "--data", b.data)
        self.assertEqual(renew.returncode, 0, renew.out)
        self.assertEqual([x for x in s4() if "not valid for TLS clients" in x["title"]], [])

    def test_renew_refuses_bad_arguments(self):
        b = self.new_bastion()
        before = read_bytes(os.path.join(self.tls_dir(b), "server.pem"))
        for args, what in ((["--days", "0"], "--days must be"), (["--days", "826"], "--days must be"),
                           (["--add-host", "bad host!"], "neither an IP address nor a DNS name"),
                           (["--add-host", "-x.example"], "neither an IP address nor a DNS name")):
            p = b.cli("tls", "renew", "--data", b.data, *args)
            self.assertEqual(p.returncode, 2, f"{args}: {p.out}")
            self.assertIn(what, p.out)
        self.assertEqual(read_bytes(os.path.join(self.tls_dir(b), "server.pem")), before)
        # a site PKI's file that is gone is not replaced by one of the local CA
        b.set_config("tls", "certificate", '"site/server.pem"')
        p = b.cli("tls", "renew", "--data", b.data)
        self.assertEqual(p.returncode, 1, p.out)
        self.assertIn("it is not the local CA's tls/server.pem", p.out)
        self.assertFalse(os.path.exists(os.path.join(b.data, "site", "server.pem")))
        self.assertFalse([r for r in b.audit_records() if r.get("type") == "tls.renew"])


if __name__ == "__main__":
    unittest.main()
