"""A full disk: every store gets a clear refusal (0xA700, not an abort), nothing
acknowledged is lost, the audit chain stays whole, queries go on, and stores
are taken again once there is room, without a restart.

Bastion's data directory sits on a small tmpfs of the test's own, mounted in
a private mount namespace (`unshare -m`, as root), so the disk fills for real
without touching the machine's file systems. Bastion's commands run in that
namespace (`nsenter -m`); the test reads its files through /proc/PID/root.
"""

import os
import re
import subprocess
import unittest

import harness as h

CT = dict(studies=1, series=1, instances=40, rows=512, cols=512)  # 40 x ~525 kB


class SmallDisk:
    """A tmpfs of `mib` MiB at `path`, mounted only inside a private mount
    namespace that a `cat` holds open until close()."""

    def __init__(self, path, mib, transcript):
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.transcript = transcript
        script = 'mount -t tmpfs -o size="$1"m,mode=0700 bastion-test "$0" && echo up && exec cat'
        self.holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script, path,
                                        str(mib)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT)
        line = self.holder.stdout.readline().decode().strip()
        if line != "up":
            raise AssertionError(f"could not mount a tmpfs in a mount namespace: {line}")
        self.pid = self.holder.pid  # sh exec'd cat
        transcript.add(f"tmpfs of {mib} MiB at {path}, in the mount namespace of pid {self.pid}", "")

    def wrap(self):
        return ["nsenter", "-t", str(self.pid), "-m", "--"]

    def view(self, path):
        """`path` (absolute) as the namespace sees it, from outside."""
        return f"/proc/{self.pid}/root{path}"

    def resize(self, mib):
        p = h.run([*self.wrap(), "mount", "-o", f"remount,size={mib}m", self.path], transcript=self.transcript)
        if p.returncode != 0:
            raise AssertionError(f"could not grow the tmpfs: {p.out}")

    def close(self):
        if self.holder.poll() is None:
            self.holder.stdin.close()
            self.holder.wait(timeout=10)
        self.holder.stdout.close()


class BastionOnSmallDisk(h.Bastion):
    """A Bastion whose data directory is on a SmallDisk."""

    def __init__(self, transcript, workdir, disk):
        self.disk = disk
        super().__init__(transcript, workdir, init=False)
        self.data = os.path.join(disk.path, "bastion-data")
        p = self.init()
        if p.returncode != 0:
            raise AssertionError(f"bastion init failed rc={p.returncode}\n{p.out}")

    def cli(self, *args, timeout=h.TOOL_TIMEOUT, env=None, input=None):
        return h.run([*self.disk.wrap(), h.BASTION_BIN, *map(str, args)], timeout=timeout, env=env,
                     transcript=self.transcript, input=input)

    def start(self, **kw):
        return super().start(wrapper=self.disk.wrap(), **kw)

    @property
    def config_path(self):
        return self.disk.view(os.path.join(self.data, "bastion.toml"))

    @property
    def audit_path(self):
        return self.disk.view(os.path.join(self.data, "audit", "audit.log"))

    def objects(self):
        return h.stored_objects(self.disk.view(self.data))

    def staging_leftovers(self):
        return h.staging_leftovers(self.disk.view(self.data))


@unittest.skipUnless(h.namespace_available("-m"), "needs root and unshare/nsenter to mount a small private tmpfs")
class DiskFullTest(h.BastionTestCase):
    need_synth = True

    def setUp(self):
        super().setUp()
        self.src = os.path.join(self.tmp, "src")
        self.files = h.synth(self.src, **CT, transcript=self.transcript)
        self.uid_of = {f: h.file_meta(f)[1] for f in self.files}

    def bastion_on_small_disk(self, mib, min_free_mib):
        disk = SmallDisk(os.path.join(self.tmp, "disk"), mib, self.transcript)
        self.addCleanup(disk.close)
        b = BastionOnSmallDisk(self.transcript, self.tmp, disk)
        self.bastions.append(b)
        b.set_config("storage", "min_free_mib", str(min_free_mib))
        b.node_add("MODALITY", allow="echo,store,find")
        p = b.cli("user", "add", "--data", b.data, "uploader", "--role", "uploader", "--password-stdin",
                  input=b"copper-harbor-violin-37")
        self.assertEqual(p.returncode, 0, p.out)
        p = b.cli("token", "create", "--data", b.data, "--user", "uploader", "--expires", "1d")
        self.assertEqual(p.returncode, 0, p.out)
        self.uploader_token = p.stdout.strip()
        b.start()
        return b, disk

    def stow(self, b, disk, files):
        """STOW-RS of `files` as the uploader; the JSON answer's status and failure reasons."""
        boundary = "b0undary-1234"
        body = b""
        for f in files:
            with open(f, "rb") as fh:
                body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + fh.read() + b"\r\n"
        body += f"--{boundary}--".encode()
        body_file = os.path.join(self.tmp, "stow-body.bin")
        with open(body_file, "wb") as fh:
            fh.write(body)
        web = h.WebClient(b, self.transcript)
        ca = disk.view(os.path.join(b.data, "tls", "ca.pem"))  # curl takes the last --cacert
        r = web.request("POST", "/dicom-web/studies", data_file=body_file, token=self.uploader_token,
                        cookies=False, extra=("--cacert", ca), timeout=120, headers=[
                            ("Content-Type", f'multipart/related; type="application/dicom"; boundary="{boundary}"'),
                            ("Accept", "application/dicom+json")])
        failed = r.json().get("00081198", {}).get("Value", [])
        return r.status, [item.get("00081197", {}).get("Value", [None])[0] for item in failed]

    def send(self, b, files, what):
        p = h.storescu(b.plain_port, files, "MODALITY", transcript=self.transcript, timeout=300)
        results = h.parse_storescu(p.out)
        self.assertEqual([r["file"] for r in results], list(files), f"{what}: storescu did not send every file")
        unanswered = [r["file"] for r in results if r["status"] is None]
        self.assertEqual(unanswered, [], f"{what}: stores without a response (the association was aborted?)")
        self.assertNotIn("Association Aborted", p.out, what)
        return p, results

    def check_archive(self, b, acked, when):
        """Every acknowledged instance stored and identical; nothing half-written; the chain whole."""
        objects = b.objects()
        for f in acked:
            uid = self.uid_of[f]
            self.assertIn(uid, objects, f"{when}: acknowledged {os.path.basename(f)} is missing")
            self.assertEqual(h.dataset_bytes(objects[uid]), h.dataset_bytes(f),
                             f"{when}: stored {os.path.basename(f)} differs from what was sent")
        for uid, path in objects.items():
            src = next((f for f, u in self.uid_of.items() if u == uid), None)
            self.assertIsNotNone(src, f"{when}: {path} matches no file sent")
            self.assertEqual(h.dataset_bytes(path), h.dataset_bytes(src), f"{when}: {path} is not whole")
        self.assertEqual(b.staging_leftovers(), [], f"{when}: leftovers in blobs/staging")
        v = b.audit_verify()
        self.assertEqual(v.returncode, 0, f"{when}: audit chain broken:\n{v.out}")

    def studies_found(self, b):
        p = h.dcmtk("findscu", ["-v", "-S", "-aet", "MODALITY", "-aec", b.ae, "-k", "QueryRetrieveLevel=STUDY",
                                "-k", "StudyInstanceUID", "-k", "NumberOfStudyRelatedInstances", h.LOOPBACK,
                                str(b.plain_port)], self.transcript, 60)
        self.assertEqual(p.returncode, 0, f"C-FIND failed:\n{p.out}")
        return [int(n) for n in re.findall(r"\(0020,1208\) IS \[(\d+)\]", p.out)]

    def test_under_the_reserve_new_objects_are_refused_and_the_rest_goes_on(self):
        b, disk = self.bastion_on_small_disk(mib=40, min_free_mib=24)
        p, results = self.send(b, self.files, "first send")
        acked = [r["file"] for r in results if r["status"] == 0]
        refused = [r["file"] for r in results if r["status"] != 0]
        statuses = sorted({h.fmt_status(r["status"]) for r in results if r["status"] != 0})
        self.assertTrue(acked, "nothing was stored before the reserve was reached")
        self.assertTrue(refused, f"all {len(self.files)} stored: the reserve was never reached")
        self.assertEqual(statuses, ["0xA700"], "refusals must be 0xA700 (out of resources)")
        self.assertEqual(acked, self.files[:len(acked)], "once under the reserve, every later object is refused")
        self.assertIn("disk nearly full", p.out, "the refusal's Error Comment says why")

        # DICOMweb uploads are refused the same way: 0xA700 for each instance.
        status, reasons = self.stow(b, disk, refused[:2])
        self.assertEqual((status, reasons), (409, [0xA700, 0xA700]), "STOW-RS under the reserve")

        # Queries and echoes go on; the refusals are on the record, one each.
        self.assertTrue(h.echo_ok(h.echoscu(b.plain_port, "MODALITY", transcript=self.transcript)))
        self.assertEqual(self.studies_found(b), [len(acked)])
        self.check_archive(b, acked, "under the reserve")
        records = b.audit_records()
        no_room = [r for r in records if r["type"] == "instance.store" and r["outcome"] == "failure" and
                   "insufficient_storage" in r["details"].get("reason", "")]
        self.assertEqual(sorted(r["details"]["sop_instance_uid"] for r in no_room),
                         sorted([self.uid_of[f] for f in refused] + [self.uid_of[f] for f in refused[:2]]))
        log = b.server.stderr_text()
        self.assertIn("under the reserve of 24 MiB", log)
        ds = h.pydicom.dcmread(self.files[0], stop_before_pixels=True)
        for phi in (str(ds.PatientName), str(ds.PatientID)):
            self.assertTrue(phi)
            self.assertNotIn(phi, log, "PHI in the server log")
        for f in self.files:
            self.assertNotIn(self.uid_of[f], log, "the server log names an instance")

        # Room again (the disk grown, as an administrator would): taken without a restart.
        disk.resize(160)
        _p, again = self.send(b, refused, "after the disk was grown")
        self.assertEqual([h.fmt_status(r["status"]) for r in again], ["0x0000"] * len(refused))
        self.assertIn("free again", b.server.stderr_text())
        self.assertEqual(self.stow(b, disk, self.files[:2]), (200, []), "STOW-RS with room (duplicates)")
        self.assertEqual(self.studies_found(b), [len(self.files)])
        self.check_archive(b, self.files, "after the disk was grown")

    def test_a_disk_that_fills_up_refuses_cleanly_and_loses_nothing(self):
        # No reserve: the writes themselves fail (ENOSPC) part way through objects.
        b, disk = self.bastion_on_small_disk(mib=14, min_free_mib=0)
        _p, results = self.send(b, self.files, "onto a full disk")
        acked = [r["file"] for r in results if r["status"] == 0]
        failed = [r for r in results if r["status"] != 0]
        self.assertTrue(acked, "nothing was stored")
        self.assertTrue(failed, "everything was stored: the disk never filled")
        self.assertEqual(sorted({h.fmt_status(r["status"]) for r in failed}), ["0xA700"],
                         "a full disk must be answered with 0xA700 (out of resources)")
        self.assertTrue(b.server.alive(), "the server died")
        self.check_archive(b, acked, "with the disk full")

        disk.resize(160)
        self.assertTrue(h.echo_ok(h.echoscu(b.plain_port, "MODALITY", transcript=self.transcript)))
        refused = [r["file"] for r in failed]
        _p, again = self.send(b, refused, "after the disk was grown")
        self.assertEqual([h.fmt_status(r["status"]) for r in again], ["0x0000"] * len(refused))
        self.assertEqual(self.studies_found(b), [len(self.files)])
        self.check_archive(b, self.files, "after the disk was grown")
        b.stop()


if __name__ == "__main__":
    unittest.main()
