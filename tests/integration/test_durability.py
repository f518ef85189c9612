"""Nothing acknowledged is ever lost: SIGKILL the server in the middle of a
large ingest (two storescu associations at once), restart it, and check that
every instance that got a success status is present and bit-identical, that
nothing half-written is visible, that no staging leftovers remain, that the
catalog knows every acknowledged instance, and that the audit chain is intact.
"""

import os
import re
import subprocess
import threading
import time
import unittest

import harness as h

# Enough files that each cycle is still sending when the kill comes: the
# acknowledgement count is read from storescu's logs and lags behind, and
# ingest got fast enough that 400 files were all acknowledged in one cycle.
STUDIES, SERIES, INSTANCES, ROWS, COLS = 2, 2, 300, 128, 128   # 1200 x 32 kB
KILL_AFTER = (100, 40)   # acknowledged stores (over all associations) before each SIGKILL


class StorescuWatcher:
    """Runs storescu -d and follows its log live: which files got which status."""

    def __init__(self, cmd, log_path):
        self.log_path = log_path
        self.acked = []          # files with status 0x0000, in order
        self.statuses = {}
        self._lock = threading.Lock()
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=h.TOOL_ENV)
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self):
        current, awaiting = None, False
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self._log.write(line)
            m = re.search(r"Sending file: (.*)$", line.rstrip("\n"))
            if m:
                current, awaiting = m.group(1).strip(), False
                continue
            if "Received Store Response" in line:
                awaiting = True
                continue
            m = re.search(r"DIMSE Status\s*:\s*0x([0-9A-Fa-f]{4})", line)
            if m and awaiting and current:
                status = int(m.group(1), 16)
                with self._lock:
                    self.statuses[current] = status
                    if status == 0:
                        self.acked.append(current)
                awaiting = False
        self._log.close()
        self.proc.stdout.close()

    def count(self):
        with self._lock:
            return len(self.acked)

    def done(self):
        return self.proc.poll() is not None

    def wait(self, timeout=120):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"storescu still running {timeout}s after the server was killed "
                                 f"(log: {self.log_path})")
        self._thread.join(timeout=10)


class DurabilityTest(h.BastionTestCase):
    need_synth = True

    def check_archive(self, b, source_by_uid, acked_files, when):
        """Every acknowledged instance present and identical; every object complete; no staging leftovers."""
        objects = b.objects()
        missing, different, stray = [], [], []
        for f in acked_files:
            inst = h.file_meta(f)[1]
            if inst not in objects:
                missing.append(os.path.relpath(f, self.src))
            elif h.dataset_bytes(objects[inst]) != h.dataset_bytes(f):
                different.append(os.path.relpath(f, self.src))
        for inst, path in objects.items():
            src = source_by_uid.get(inst)
            if src is None:
                stray.append(path)
            elif h.dataset_bytes(path) != h.dataset_bytes(src):
                different.append(f"{os.path.relpath(src, self.src)} (object {path}, not acknowledged)")
        self.assertEqual(missing, [], f"{when}: {len(missing)} acknowledged instances missing")
        self.assertEqual(different, [], f"{when}: stored objects differ from what was sent")
        self.assertEqual(stray, [], f"{when}: objects that match no source instance")
        self.assertEqual(b.staging_leftovers(), [], f"{when}: leftovers in blobs/staging")
        return objects

    def test_sigkill_during_ingest_loses_nothing_acknowledged(self):
        self.src = os.path.join(self.tmp, "src")
        files = h.synth(self.src, STUDIES, SERIES, INSTANCES, ROWS, COLS, transcript=self.transcript)
        source_by_uid = {h.file_meta(f)[1]: f for f in files}
        cfg = h.storescu_config(os.path.join(self.tmp, "synth.cfg"), files)  # exactly the files' own TS

        b = self.new_bastion()
        b.node_add("MODALITY1", host="127.0.0.1", allow="echo,store")
        b.node_add("MODALITY2", host="127.0.0.1", allow="echo,store")
        b.start()

        acked = set()
        pending = list(files)
        for cycle, kill_after in enumerate(KILL_AFTER, 1):
            halves = (pending[0::2], pending[1::2])
            watchers = []
            for i, (aet, batch) in enumerate(zip(("MODALITY1", "MODALITY2"), halves)):
                cmd = ["storescu", "-d", "-nh", "-aet", aet, "-aec", b.ae, "-to", "10", "-ta", "15", "-ts",
                       "30", "-xf", cfg[0], cfg[1], h.LOOPBACK, str(b.plain_port), *batch]
                watchers.append(StorescuWatcher(cmd, os.path.join(self.tmp, f"storescu-{cycle}-{i}.log")))
            self.transcript.add(f"cycle {cycle}: 2 storescu processes, {len(pending)} files, "
                                f"SIGKILL after {kill_after} acknowledgements", "")
            h.wait_for(lambda: sum(w.count() for w in watchers) >= kill_after or all(w.done() for w in watchers),
                       180, interval=0.01, what=f"{kill_after} acknowledged stores")
            finished_before_kill = all(w.done() for w in watchers)
            b.kill()
            for w in watchers:
                w.wait()
            cycle_acked = {f for w in watchers for f in w.acked}
            self.transcript.add(f"cycle {cycle}: {len(cycle_acked)} acknowledged before/at the kill",
                                "\n".join(f"  {w.log_path}: rc={w.proc.returncode} acked={w.count()}"
                                          for w in watchers))
            self.assertFalse(finished_before_kill,
                             f"cycle {cycle}: all {len(pending)} stores finished before the kill; "
                             f"the test did not kill mid-ingest")
            self.assertGreater(len(cycle_acked), 0)
            self.assertLess(len(cycle_acked), len(pending), "everything was acknowledged: no mid-ingest kill")
            acked |= cycle_acked

            # restart: start-up recovery runs before ready
            b.start()
            self.check_archive(b, source_by_uid, acked, f"after SIGKILL #{cycle} and restart")
            # the catalog knows every acknowledged instance: importing them again finds only duplicates
            b.stop()
            p = b.import_(*sorted(acked))
            m = re.search(r"stored (\d+), duplicates (\d+), rejected (\d+)", p.out)
            self.assertTrue(m, f"import summary missing:\n{p.out[-2000:]}")
            self.assertEqual((int(m.group(1)), int(m.group(2)), int(m.group(3))), (0, len(acked), 0),
                             f"after SIGKILL #{cycle}: re-importing the {len(acked)} acknowledged instances "
                             f"should find them all in the catalog:\n{p.out[-2000:]}")
            self.assertEqual(p.returncode, 0, p.out[-2000:])
            v = b.audit_verify()
            self.assertEqual(v.returncode, 0, f"audit verify after SIGKILL #{cycle}: {v.out}")
            b.start()
            pending = [f for f in files if f not in acked]

        # finish the ingest (already held ones again too: identical bytes -> success)
        p = b.store("MODALITY1", files, config=cfg, timeout=600)
        results = h.parse_storescu(p.out)
        bad = [(os.path.relpath(r["file"], self.src), h.fmt_status(r["status"])) for r in results if r["status"] != 0]
        self.assertEqual(len(results), len(files), p.out[-3000:])
        self.assertEqual(bad, [], "after recovery, (re)sending the whole set should succeed")
        objects = self.check_archive(b, source_by_uid, files, "after completing the ingest")
        self.assertEqual(len(objects), len(files))
        b.stop()
        v = b.audit_verify()
        self.assertEqual(v.returncode, 0, f"audit verify at the end: {v.out}")


if __name__ == "__main__":
    unittest.main()
