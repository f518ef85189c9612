"""Bastion as a DICOM client: `bastion send` (C-STORE of stored studies to a
registered node allowed to receive) and `bastion query` (C-FIND on a
registered node), between two real Bastion servers, with their refusals and
audit records."""

import json
import os
import unittest

import harness as h

CT = os.path.join(h.PYDICOM_TEST_FILES, "CT_small.dcm")
MR = os.path.join(h.PYDICOM_TEST_FILES, "MR_small.dcm")


class SendQueryTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        # Site A holds the studies; site B is the other PACS.
        self.a = self.new_bastion(name="site-a")
        self.b = self.new_bastion(name="site-b", ae="SITEB")
        self.a.node_add("MOD", allow="echo,store")
        # A knows B (its address and port) and may send to it and query it.
        self.a.node_add("SITEB", allow="echo,receive", port=self.b.plain_port)
        # B accepts stores and queries from A (AE BASTION) on its plain loopback port.
        self.b.node_add("BASTION", allow="echo,store,find")
        self.a.start()
        self.b.start()
        stored = self.a.store("MOD", [CT, MR])
        self.assertEqual(stored.returncode, 0, stored.out)
        self.ct_study = self.study_uid(CT)

    @staticmethod
    def study_uid(path):
        import pydicom
        return str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)

    def test_send_a_study_arrives_byte_identical(self):
        p = self.a.cli("send", "--data", self.a.data, "--to", "SITEB", self.ct_study)
        self.assertEqual(p.returncode, 0, p.out)
        self.assertIn("sent 1 instances to SITEB", p.stdout)
        on_b = self.b.objects()
        _cls, inst, _ts = h.sop_info(CT)
        self.assertEqual(list(on_b), [inst])
        # The dataset as site A stored it (as storescu sent it), bit for bit.
        self.assertEqual(h.dataset_bytes(on_b[inst]), h.dataset_bytes(self.a.objects()[inst]))
        retrieves = [r for r in self.a.audit_records() if r.get("type") == "retrieve"]
        self.assertEqual(retrieves[-1]["details"]["sent"], [inst])
        self.assertEqual(retrieves[-1]["details"]["destination"], "SITEB")
        self.assertEqual(self.a.audit_verify().returncode, 0)

    def trust_each_other(self):
        """Two sites whose certificates come from their own local CAs: each trusts both CAs."""
        bundle = b""
        for site in (self.a, self.b):
            with open(os.path.join(site.data, "tls", "ca.pem"), "rb") as f:
                bundle += f.read()
        for site in (self.a, self.b):
            with open(os.path.join(site.data, "tls", "trusted.pem"), "wb") as f:
                f.write(bundle)
            site.set_config("tls", "client_ca", '"tls/trusted.pem"')
            site.stop()
            site.start()

    def test_send_over_tls_both_ways_authenticated(self):
        """A sends to B's TLS port: A's certificate serves as a client one, and B's must be SITEB's."""
        self.a.node_remove("SITEB")
        self.a.node_add("SITEB", allow="echo,receive", port=self.b.tls_port, tls_only=True)
        # Before A trusts B's CA: refused in the handshake, and A says why.
        p = self.a.cli("send", "--data", self.a.data, "--to", "SITEB", self.ct_study)
        self.assertEqual(p.returncode, 1, p.out)
        # B sends its CA along: the chain ends in a CA that A does not trust
        self.assertIn("(its certificate CN=Bastion local CA (SITEB): self-signed certificate in certificate chain)",
                      p.out)
        self.assertEqual(self.b.objects(), {})

        self.trust_each_other()
        p = self.a.cli("send", "--data", self.a.data, "--to", "SITEB", self.ct_study)
        self.assertEqual(p.returncode, 0, p.out)
        _cls, inst, _ts = h.sop_info(CT)
        on_b = self.b.objects()
        self.assertEqual(list(on_b), [inst])
        self.assertEqual(h.dataset_bytes(on_b[inst]), h.dataset_bytes(self.a.objects()[inst]))
        # B saw A over TLS with A's own certificate
        accepted = [r for r in self.b.audit_records() if r.get("type") == "association"
                    and r["details"].get("transport") == "tls" and r["details"].get("decision") == "accepted"]
        self.assertEqual([r["details"]["client_cert_cn"] for r in accepted], ["BASTION"], accepted)
        self.assertEqual(accepted[0]["details"]["client_cert_sha256"],
                         h.cert_sha256(os.path.join(self.a.data, "tls", "server.pem")))

        # A certificate that passes the handshake but is not the one pinned for SITEB: nothing is sent.
        self.a.node_remove("SITEB")
        self.a.node_add("SITEB", allow="echo,receive", port=self.b.tls_port, fingerprint="ab" * 32)
        mr_study = self.study_uid(MR)
        p = self.a.cli("send", "--data", self.a.data, "--to", "SITEB", mr_study)
        self.assertEqual(p.returncode, 1, p.out)
        self.assertIn("abandoned: its certificate does not match the node's pinned fingerprint", p.out)
        self.assertIn("CN=SITEB", p.out)
        self.assertEqual(list(self.b.objects()), [inst], "an object reached the unverified peer")
        failed = [r for r in self.a.audit_records() if r.get("type") == "retrieve" and r.get("outcome") != "success"]
        self.assertIn("pinned fingerprint", json.dumps(failed[-1]))
        self.assertEqual(self.a.audit_verify().returncode, 0)

    def test_send_refused_for_unknown_or_non_receiving_nodes(self):
        p = self.a.cli("send", "--data", self.a.data, "--to", "NOBODY", self.ct_study)
        self.assertEqual(p.returncode, 1, p.out)
        self.assertIn("not a registered node", p.out)
        p = self.a.cli("send", "--data", self.a.data, "--to", "MOD", self.ct_study)  # registered, no receive
        self.assertEqual(p.returncode, 1, p.out)
        self.assertIn("not allowed to receive", p.out)
        self.assertEqual(self.b.objects(), {})
        refused = [r for r in self.a.audit_records() if r.get("type") == "retrieve" and r.get("outcome") != "success"]
        self.assertEqual(len(refused), 2)

    def test_query_a_remote_pacs(self):
        p = self.a.cli("send", "--data", self.a.data, "--to", "SITEB", self.ct_study)
        self.assertEqual(p.returncode, 0, p.out)
        q = self.a.cli("query", "--data", self.a.data, "--remote", "SITEB", "-k", "PatientName=compressed*",
                       "-k", "StudyInstanceUID", "-k", "NumberOfStudyRelatedInstances", "--json")
        self.assertEqual(q.returncode, 0, q.out)
        matches = json.loads(q.stdout)
        self.assertEqual(len(matches), 1, matches)
        self.assertEqual(matches[0]["StudyInstanceUID"], self.ct_study)
        self.assertEqual(matches[0]["NumberOfStudyRelatedInstances"], "1")
        # A's audit log says what was asked of B and how many matches were shown.
        remote = [r for r in self.a.audit_records() if r.get("type") == "remote.query"]
        self.assertEqual(remote[-1]["details"]["matches"], 1)
        self.assertEqual(remote[-1]["details"]["remote"], "SITEB")
        # B's audit log has the query too, from BASTION.
        queries = [r for r in self.b.audit_records() if r.get("type") == "query"]
        self.assertEqual(queries[-1]["actor"]["id"], "BASTION")

    def test_query_refused_by_the_remote(self):
        # B does not let A query any more: the association offers no C-FIND context.
        self.b.node_remove("BASTION")
        self.b.node_add("BASTION", allow="echo,store")
        q = self.a.cli("query", "--data", self.a.data, "--remote", "SITEB", "-k", "PatientName=*")
        self.assertNotEqual(q.returncode, 0, q.out)
        self.assertIn("bastion: error:", q.stderr)
        q = self.a.cli("query", "--data", self.a.data, "--remote", "NOBODY")
        self.assertEqual(q.returncode, 2, q.out)


if __name__ == "__main__":
    unittest.main()
