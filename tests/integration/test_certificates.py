"""Server certificate lifetime: an expired certificate is refused at start-up
with a plain explanation (instead of opaque TLS handshake failures for every
peer), and one about to expire is warned about."""

import datetime
import os
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

    def test_certificate_expiring_soon_is_warned_about(self):
        b = self.new_bastion()
        now = datetime.datetime.now(datetime.timezone.utc)
        write_self_signed(self.tls_dir(b), now - datetime.timedelta(days=1), now + datetime.timedelta(days=10))
        server = b.start()
        echo = b.echo("NOBODY")  # the server works meanwhile (and rejects an unknown AE as usual)
        self.assertNoAssociation(echo)
        b.stop()
        self.assertRegex(server.stderr_text(), r"server certificate .*server\.pem expires in \d+ days")


if __name__ == "__main__":
    unittest.main()
