"""DICOMweb with a real client nobody here wrote: the npm package
dicomweb-client (the library OHIF's data source grew from), in Node with an
XMLHttpRequest polyfill, driven by tests/clients/dicomweb_client.mjs.

It stores part of the pydicom corpus with STOW-RS (one body, leading CRLF, no
trailing CRLF, as the library sends it), then searches studies, series and
instances, reads series metadata (relative BulkDataURI), a frame with
transfer-syntax=*, a rendered JPEG and a whole instance. A token without the
permission to store stores nothing.
"""

import json
import os
import shutil
import unittest

import harness as h

CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients")
FILES = ["CT_small.dcm", "MR_small.dcm", "SC_rgb_jpeg_dcmtk.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm"]


class DicomWebClientTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.isdir(os.path.join(CLIENTS, "node_modules", "dicomweb-client")):
            self.fail("tests/clients/node_modules is missing: run scripts/install-deps.sh test (make test does)")
        self.node = shutil.which("node") or shutil.which("nodejs")
        self.assertIsNotNone(self.node, "node is not installed: run scripts/install-deps.sh test")

    def run_client(self, b, token, files, expect_rc=0):
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=os.path.join(b.data, "tls", "ca.pem"))
        p = h.run([self.node, os.path.join(CLIENTS, "dicomweb_client.mjs"),
                   f"https://localhost:{b.https_port}/dicom-web", token, *files],
                  env=env, transcript=self.transcript, cwd=CLIENTS, timeout=120)
        self.assertEqual(p.returncode, expect_rc, p.out)
        return json.loads(p.stdout) if expect_rc == 0 else p

    def token_for(self, b, role):
        name = "web-" + role
        p = b.cli("user", "add", "--data", b.data, name, "--role", role, "--password-stdin",
                  input=b"quartz-meadow-lantern-81")
        self.assertEqual(p.returncode, 0, p.out)
        p = b.cli("token", "create", "--data", b.data, "--user", name, "--expires", "1d")
        self.assertEqual(p.returncode, 0, p.out)
        return p.stdout.strip()

    def test_store_search_and_read_with_dicomweb_client(self):
        b = self.new_bastion()
        token = self.token_for(b, "admin")  # stores and reads
        b.start()
        files = [os.path.join(h.PYDICOM_TEST_FILES, f) for f in FILES]
        got = self.run_client(b, token, files)
        # (MR_small and MR_small_RLE are the same instance: the first copy is kept)
        unique = {h.pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files}
        self.assertEqual(len(h.stored_objects(b.data)), len(unique), "STOW did not store every dataset")
        self.assertIn("1.3.6.1.4.1.5962.1.2.1.20040119072730.12322", got["studies"])
        self.assertEqual(got["patient_name"], {"Alphabetic": "CompressedSamples^CT1"})
        self.assertEqual((got["series"], got["instances"]), (1, 1))
        self.assertEqual(got["metadata_rows"], 128)
        self.assertTrue(got["bulk_data_uri"].startswith("instances/"), got["bulk_data_uri"])
        self.assertEqual(got["frame_bytes"], [128 * 128 * 2])
        self.assertTrue(got["rendered_jpeg"])
        self.assertGreater(got["instance_bytes"], 128 * 128 * 2)
        types = [r["type"] for r in b.audit_records()]
        for t in ("instance.store", "query", "view"):
            self.assertIn(t, types)
        self.assertEqual(b.audit_verify().returncode, 0)

    def test_a_reader_cannot_store(self):
        b = self.new_bastion()
        reader = self.token_for(b, "reader")
        b.start()
        p = self.run_client(b, reader, [os.path.join(h.PYDICOM_TEST_FILES, "CT_small.dcm")], expect_rc=1)
        self.assertIn("403", p.stderr)
        self.assertEqual(len(h.stored_objects(b.data)), 0)


if __name__ == "__main__":
    unittest.main()
