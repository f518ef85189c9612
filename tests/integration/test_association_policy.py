"""Who may open an association: called AE, calling AE, peer address, client
certificate (CA and pinned fingerprint), allowed services, live registry
changes, and the 2019 `PatientName=*` query from a stranger."""

import json
import os
import unittest

import harness as h

CT = os.path.join(h.PYDICOM_TEST_FILES, "CT_small.dcm")
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
FIND_PATIENT_ROOT = "1.2.840.10008.5.1.4.1.2.1.1"


class AssociationPolicyTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        self.b = self.new_bastion()

    def assertAuditMentions(self, *needles):
        text = self.b.audit_text().lower()
        for n in needles:
            self.assertIn(n.lower(), text, f"audit.log has no record mentioning {n!r}")

    def test_fresh_install_accepts_nobody(self):
        self.b.start()
        self.assertRejected(self.b.echo("STORESCU"), h.REASON_CALLING_AE, "on a fresh install (plain)")
        listing = self.b.node_list(as_json=True)
        entries = listing.get("nodes", []) if isinstance(listing, dict) else listing
        self.assertEqual(len(entries), 0, f"fresh registry not empty: {listing}")
        self.b.stop()

    def test_unknown_called_ae_rejected_reason_7(self):
        self.b.node_add("MODALITY1", allow="echo,store")
        self.b.start()
        self.assertRejected(self.b.echo("MODALITY1", aec="NOTBASTION"), h.REASON_CALLED_AE, "echoscu")
        p = self.b.store("MODALITY1", [CT], aec="NOTBASTION")
        self.assertRejected(p, h.REASON_CALLED_AE, "storescu")
        scu, res = h.mini_associate(self.b.plain_port, "MODALITY1", called="NOTBASTION")
        scu.close()
        self.assertEqual(res.kind, "rejected", res)
        result, source, reason = res.reject
        self.assertEqual((source, reason), (1, 7), f"A-ASSOCIATE-RJ result/source/reason = {res.reject}")
        self.assertEqual(result, 1, f"unknown called AE should be a permanent rejection: {res.reject}")
        self.assertEqual(self.b.objects(), {})
        # the right called AE still works
        self.assertEchoOk(self.b.echo("MODALITY1"))
        self.b.stop()
        self.assertAuditMentions("NOTBASTION")

    def test_unknown_calling_ae_rejected_reason_3(self):
        self.b.node_add("MODALITY1", allow="echo,store")
        self.b.start()
        self.assertRejected(self.b.echo("INTRUDER"), h.REASON_CALLING_AE, "echoscu")
        self.assertRejected(self.b.store("INTRUDER", [CT]), h.REASON_CALLING_AE, "storescu")
        scu, res = h.mini_associate(self.b.plain_port, "INTRUDER")
        scu.close()
        self.assertEqual(res.kind, "rejected", res)
        result, source, reason = res.reject
        self.assertEqual((source, reason), (1, 3), f"A-ASSOCIATE-RJ result/source/reason = {res.reject}")
        self.assertEqual(result, 1, f"unknown calling AE should be a permanent rejection: {res.reject}")
        self.assertEqual(self.b.objects(), {})
        self.assertEchoOk(self.b.echo("MODALITY1"))
        self.b.stop()
        self.assertAuditMentions("INTRUDER")
        self.assertEqual(self.b.audit_verify().returncode, 0)

    def test_wrong_host_rejected(self):
        # registered from 127.0.0.2; our tools connect from 127.0.0.1
        self.b.node_add("ELSEWHERE", host="127.0.0.2", allow="echo,store")
        self.b.start()
        self.assertRejected(self.b.echo("ELSEWHERE"), msg="node registered on 127.0.0.2, peer 127.0.0.1")
        self.assertRejected(self.b.store("ELSEWHERE", [CT]), msg="storescu from the wrong host")
        self.assertEqual(self.b.objects(), {})
        # from its registered address the same AE title is accepted
        scu, res = h.mini_associate(self.b.plain_port, "ELSEWHERE", source="127.0.0.2")
        self.assertEqual(res.kind, "accepted", f"from 127.0.0.2: {res}")
        self.assertEqual(scu.c_echo(scu.pcid_for(h.UID_VERIFICATION, h.TS_IMPLICIT_LE)), 0)
        self.assertTrue(scu.release())
        self.b.stop()
        self.assertAuditMentions("ELSEWHERE")

    def test_address_lists_and_cidr(self):
        self.b.node_add("LISTED", host="127.0.0.9,127.0.0.1", allow="echo")
        self.b.node_add("RANGE", host="127.0.0.0/8", allow="echo")
        self.b.node_add("NARROW", host="127.0.0.8/29", allow="echo")  # 127.0.0.8-15
        self.b.start()
        self.assertEchoOk(self.b.echo("LISTED"), "second address of a list")
        self.assertEchoOk(self.b.echo("RANGE"), "inside 127.0.0.0/8")
        self.assertRejected(self.b.echo("NARROW"), msg="127.0.0.1 is outside 127.0.0.8/29")
        scu, res = h.mini_associate(self.b.plain_port, "NARROW", source="127.0.0.12")
        self.assertEqual(res.kind, "accepted", f"127.0.0.12 is inside 127.0.0.8/29: {res}")
        scu.release()
        self.b.stop()

    def test_tls_without_client_certificate_no_association(self):
        self.b.node_add("MODALITY1", allow="echo,store")
        tls = self.b.node_cert("MODALITY1")
        self.b.start()
        anon = h.TlsFiles(None, None, tls.ca)  # +tla: TLS, no client certificate
        p = self.b.echo("MODALITY1", tls=anon)
        self.assertNoAssociation(p, "TLS without a client certificate")
        p = self.b.store("MODALITY1", [CT], tls=anon)
        self.assertNoAssociation(p, "storescu over TLS without a client certificate")
        try:
            scu, res = h.mini_associate(self.b.tls_port, "MODALITY1", tls=anon)
            scu.close()
            self.assertNotEqual(res.kind, "accepted", f"raw TLS client without certificate: {res}")
        except (OSError, ValueError):
            pass  # handshake refused: as it should be
        self.assertEqual(self.b.objects(), {})
        self.assertEchoOk(self.b.echo("MODALITY1", tls=tls), "with the certificate")
        self.b.stop()

    def test_tls_certificate_from_other_ca_no_association(self):
        self.b.node_add("MODALITY1", allow="echo,store")
        good = self.b.node_cert("MODALITY1")
        foreign = h.make_foreign_ca_cert(os.path.join(self.tmp, "foreign"), cn="MODALITY1")
        self.b.start()
        forged = h.TlsFiles(foreign.key, foreign.cert, good.ca)  # trusts Bastion, but untrusted cert
        self.assertNoAssociation(self.b.echo("MODALITY1", tls=forged), "client cert from a foreign CA")
        self.assertNoAssociation(self.b.store("MODALITY1", [CT], tls=forged), "storescu, foreign CA")
        self.assertEqual(self.b.objects(), {})
        self.assertEchoOk(self.b.echo("MODALITY1", tls=good), "with the Bastion-issued certificate")
        self.b.stop()
        # the log and the audit say why, for the administrator of the modality
        why = "client certificate CN=MODALITY1: unable to get local issuer certificate"
        self.assertIn(why, self.b.server.stderr_text())
        refusals = [r for r in self.b.audit_records() if r.get("type") == "association"
                    and why in r["details"].get("why", "")]
        self.assertEqual(len(refusals), 2, refusals)

    def test_pinned_fingerprint(self):
        # a cert for OTHER gives a fingerprint that is not MODALITY1's
        self.b.node_add("OTHER", allow="echo")
        other = self.b.node_cert("OTHER")
        self.b.node_add("PINNED", allow="echo,store", fingerprint=other.fingerprint())
        pinned_wrong = self.b.node_cert("PINNED")
        self.assertNotEqual(pinned_wrong.fingerprint(), other.fingerprint())
        self.b.start()
        p = self.b.echo("PINNED", tls=pinned_wrong)
        self.assertNoAssociation(p, "certificate valid but not the pinned one")
        self.assertNoAssociation(self.b.store("PINNED", [CT], tls=pinned_wrong), "storescu, wrong pin")
        # a pinned node is TLS-only
        self.assertNoAssociation(self.b.echo("PINNED"), "pinned node over plain TCP")

        # re-register with the right fingerprint (colon form, upper case): accepted
        fp = pinned_wrong.fingerprint().upper()
        colon_fp = ":".join(fp[i:i + 2] for i in range(0, len(fp), 2))
        self.b.node_remove("PINNED")
        self.b.node_add("PINNED", allow="echo,store", fingerprint=colon_fp)
        ok = h.wait_for(lambda: echo_if_ok(self.b, "PINNED", pinned_wrong), 15, interval=0.25,
                        what="echo with the pinned certificate after re-registering")
        self.assertEchoOk(ok)
        # the certificate of another node does not match the pin either
        borrowed = h.TlsFiles(other.key, other.cert, other.ca)
        self.assertNoAssociation(self.b.echo("PINNED", tls=borrowed), "another node's certificate")
        self.b.stop()

    def test_tls_only_node_refused_on_plain_port(self):
        self.b.node_add("SECURE", allow="echo", tls_only=True)
        tls = self.b.node_cert("SECURE")
        self.b.start()
        self.assertNoAssociation(self.b.echo("SECURE"), "--tls-only node on the plain port")
        self.assertEchoOk(self.b.echo("SECURE", tls=tls))
        self.b.stop()

    def test_service_not_allowed_is_refused(self):
        self.b.node_add("ECHOONLY", allow="echo")
        self.b.start()
        self.assertEchoOk(self.b.echo("ECHOONLY"))
        p = self.b.store("ECHOONLY", [CT])
        results = h.parse_storescu(p.out)
        self.assertFalse(any(r["status"] == 0 for r in results), f"store succeeded for an echo-only node:\n"
                                                                 f"{p.out[-3000:]}")
        self.assertNotEqual(p.returncode, 0, p.out[-3000:])
        self.assertTrue("No Acceptable Presentation Contexts" in p.out or "No presentation context" in p.out,
                        f"storescu should find no accepted storage context:\n{p.out[-3000:]}")
        # raw: verification accepted, CT storage and Find not
        scu, res = h.mini_associate(self.b.plain_port, "ECHOONLY", contexts=[
            (h.UID_VERIFICATION, [h.TS_IMPLICIT_LE]), (CT_STORAGE, [h.TS_EXPLICIT_LE, h.TS_IMPLICIT_LE]),
            (FIND_PATIENT_ROOT, [h.TS_IMPLICIT_LE])])
        self.assertEqual(res.kind, "accepted", res)
        self.assertEqual(res.contexts.get(1, (None,))[0], 0, f"verification context: {res.contexts}")
        self.assertNotEqual(res.contexts.get(3, (0,))[0], 0, f"CT storage context accepted: {res.contexts}")
        self.assertNotEqual(res.contexts.get(5, (0,))[0], 0, f"find context accepted: {res.contexts}")
        self.assertEqual(scu.c_echo(1), 0)
        scu.release()
        self.assertEqual(self.b.objects(), {})
        self.b.stop()

    def test_store_only_node_cannot_echo_or_find(self):
        self.b.node_add("STOREONLY", allow="store")
        self.b.start()
        scu, res = h.mini_associate(self.b.plain_port, "STOREONLY", contexts=[
            (h.UID_VERIFICATION, [h.TS_IMPLICIT_LE]), (CT_STORAGE, [h.TS_EXPLICIT_LE]),
            (FIND_PATIENT_ROOT, [h.TS_IMPLICIT_LE])])
        if res.kind == "accepted":
            self.assertNotEqual(res.contexts.get(1, (0,))[0], 0, f"verification accepted: {res.contexts}")
            self.assertEqual(res.contexts.get(3, (None,))[0], 0, f"storage refused: {res.contexts}")
            self.assertNotEqual(res.contexts.get(5, (0,))[0], 0, f"find accepted: {res.contexts}")
            scu.release()
        else:
            self.fail(f"store-only node could not associate to store: {res}")
        self.b.stop()

    def test_registry_change_without_restart(self):
        self.b.node_add("FIRST", allow="echo")
        self.b.start()
        self.assertEchoOk(self.b.echo("FIRST"))
        self.b.node_add("LATE", allow="echo,store")
        ok = h.wait_for(lambda: echo_if_ok(self.b, "LATE"), 15, interval=0.25,
                        what="echo from a node added while the server runs")
        self.assertEchoOk(ok)
        p = self.b.store("LATE", [CT])
        self.assertTrue(any(r["status"] == 0 for r in h.parse_storescu(p.out)), p.out[-3000:])

        self.b.node_remove("LATE")
        rejected = h.wait_for(lambda: rejected_if_so(self.b, "LATE"), 15, interval=0.25,
                              what="rejection of a node removed while the server runs")
        self.assertRejected(rejected, h.REASON_CALLING_AE, "after node remove")
        # SIGHUP reloads as well (and does not stop the server)
        self.b.node_add("HUPPED", allow="echo")
        self.b.server.popen.send_signal(1)
        ok = h.wait_for(lambda: echo_if_ok(self.b, "HUPPED"), 15, interval=0.25, what="echo after SIGHUP")
        self.assertEchoOk(ok)
        self.assertTrue(self.b.server.alive())
        self.b.stop()
        self.assertAuditMentions("LATE", "HUPPED")
        self.assertEqual(self.b.audit_verify().returncode, 0)

    def test_2019_query_from_unknown_ae_gets_no_association(self):
        self.b.node_add("MODALITY1", allow="echo,store,find")
        tls = self.b.node_cert("MODALITY1")
        self.b.start()
        p = self.b.find("ANY-SCU")
        self.assertRejected(p, h.REASON_CALLING_AE, "findscu PatientName=* over plain TCP")
        self.assertNotIn("Find Response", p.out)
        # over TLS: no certificate -> not even a TLS session
        p = self.b.find("ANY-SCU", tls=h.TlsFiles(None, None, tls.ca))
        self.assertNoAssociation(p, "findscu over TLS without certificate")
        self.assertNotIn("Find Response", p.out)
        # over TLS with a valid certificate but an unknown calling AE: rejected
        p = self.b.find("ANY-SCU", tls=tls)
        self.assertRejected(p, h.REASON_CALLING_AE, "findscu over TLS, valid cert, unknown AE")
        self.assertNotIn("Find Response", p.out)
        self.b.stop()

    def test_certificate_of_another_node_does_not_authenticate(self):
        # `node cert --ae MODALITY1` issues MODALITY1's certificate; presenting it
        # while calling as MODALITY2 must not authenticate MODALITY2.
        self.b.node_add("MODALITY1", allow="echo")
        self.b.node_add("MODALITY2", allow="echo")
        tls1 = self.b.node_cert("MODALITY1")
        self.b.start()
        self.assertEchoOk(self.b.echo("MODALITY1", tls=tls1))
        self.assertNoAssociation(self.b.echo("MODALITY2", tls=tls1), "MODALITY2 calling with MODALITY1's cert")
        self.b.stop()

    def test_concurrent_association_limits(self):
        self.b.set_config("dicom", "max_associations", "3")
        self.b.set_config("dicom", "max_associations_per_node", "2")
        self.b.node_add("BUSY", allow="echo")
        self.b.node_add("QUIET", allow="echo")
        self.b.start()
        held = []
        try:
            for i in range(2):
                scu, res = h.mini_associate(self.b.plain_port, "BUSY")
                held.append(scu)
                self.assertEqual(res.kind, "accepted", f"BUSY association {i + 1} of 2: {res}")
            scu, res = h.mini_associate(self.b.plain_port, "BUSY")
            scu.close()
            self.assertNotEqual(res.kind, "accepted", f"third concurrent BUSY association (limit 2): {res}")
            # another node is not affected by BUSY's limit
            scu, res = h.mini_associate(self.b.plain_port, "QUIET")
            held.append(scu)
            self.assertEqual(res.kind, "accepted", f"QUIET while BUSY is at its limit: {res}")
            # total limit 3 reached
            scu, res = h.mini_associate(self.b.plain_port, "QUIET")
            scu.close()
            self.assertNotEqual(res.kind, "accepted", f"fourth association with max_associations = 3: {res}")
            # the held associations still work
            for s in held:
                self.assertEqual(s.c_echo(1), 0)
        finally:
            for s in held:
                s.release()
        # slots are given back
        ok = h.wait_for(lambda: echo_if_ok(self.b, "BUSY"), 10, interval=0.1, what="echo after releasing")
        self.assertEchoOk(ok)
        self.b.stop()

    def test_repeated_rejections_slow_down_then_lock_out_the_address(self):
        self.b.set_config("dicom.throttle", "failures_before_slowdown", "2")
        self.b.set_config("dicom.throttle", "failures_before_lockout", "6")
        self.b.set_config("dicom.throttle", "lockout_seconds", "120")
        self.b.set_config("dicom.throttle", "max_delay_ms", "2000")
        self.b.node_add("MODALITY1", host="127.0.0.0/8", allow="echo")
        self.b.start()
        timings = []
        for i in range(6):  # AE-title guessing from 127.0.0.5
            t0 = h.time.monotonic()
            scu, res = h.mini_associate(self.b.plain_port, f"GUESS{i}", source="127.0.0.5")
            timings.append(h.time.monotonic() - t0)
            scu.close()
            self.assertNotEqual(res.kind, "accepted", res)
        self.assertGreaterEqual(max(timings[3:]), 0.1,
                                f"rejections past failures_before_slowdown were not slowed: {timings}")
        # locked out: even the registered node is refused from that address
        scu, res = h.mini_associate(self.b.plain_port, "MODALITY1", source="127.0.0.5")
        scu.close()
        self.assertNotEqual(res.kind, "accepted", f"locked-out address still admitted: {res}")
        # other addresses are not affected
        scu, res = h.mini_associate(self.b.plain_port, "MODALITY1", source="127.0.0.6")
        self.assertEqual(res.kind, "accepted", f"a different address was locked out too: {res}")
        scu.release()
        self.assertEchoOk(self.b.echo("MODALITY1"), "from 127.0.0.1")
        self.b.stop()
        self.assertAuditMentions("lockout", "127.0.0.5")


def echo_if_ok(b, aet, tls=None):
    p = b.echo(aet, tls=tls)
    return p if h.echo_ok(p) else None


def rejected_if_so(b, aet):
    p = b.echo(aet)
    return p if "Association Rejected" in p.out else None


if __name__ == "__main__":
    unittest.main()
