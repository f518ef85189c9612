"""The whole pydicom sample corpus (every file DCMTK's storescu can send),
sent to Bastion and to DCMTK's reference `storescp --bit-preserving`: every
object storescp stored must be stored by Bastion with identical dataset bytes.

storescu is given a configuration that proposes, for each (SOP class,
transfer syntax) pair in the corpus, a presentation context with exactly that
transfer syntax, so each file travels in its own encoding (compressed ones
too) and both receivers get the same bytes.

Several sample files share a SOP Instance UID with different content
(MR_small*.dcm, rtdose*.dcm, ...). They are sent in rounds, each round holding
at most one file per SOP Instance UID, each round to a fresh Bastion and a
fresh storescp output directory.
"""

import collections
import os
import sys
import unittest

import harness as h


def corpus_rounds(files):
    by_uid = collections.defaultdict(list)
    rounds = [[]]
    for f in files:
        _cls, inst, _ts = h.sop_info(f)
        if inst is None:
            rounds[0].append(f)  # storescu will most likely refuse it; let it try
            continue
        by_uid[inst].append(f)
    for inst, group in by_uid.items():
        for i, f in enumerate(group):
            while len(rounds) <= i:
                rounds.append([])
            rounds[i].append(f)
    return rounds


class CorpusTest(h.BastionTestCase):

    def start_reference(self, out_dir):
        os.makedirs(out_dir)
        log = out_dir + ".log"
        # A port that was free a moment ago can be taken meanwhile (another
        # test's outgoing connection gets it as its ephemeral port): then
        # storescp exits at once, and we try another port (bounded).
        for _attempt in range(5):
            port = h.free_port()
            p = self.spawn(["storescp", "-v", "--bit-preserving", "+xa", "-aet", "REF", "-od", out_dir,
                            "-dhl", str(port)], stdout_path=log)
            try:
                h.wait_for(lambda: p.poll() is not None or h.port_open(port), 15,
                           what=f"storescp on port {port}")
            except AssertionError:
                p.kill()
                continue
            if p.poll() is None:
                return port
        self.fail("storescp could not listen on any of 5 free ports")

    def test_corpus_bit_identical_to_reference(self):
        files = h.all_files(h.PYDICOM_TEST_FILES)
        self.assertGreater(len(files), 100, f"pydicom test files not found in {h.PYDICOM_TEST_FILES}")
        cfg = h.storescu_config(os.path.join(self.tmp, "corpus.cfg"), files, profile="Corpus")
        rounds = corpus_rounds(files)

        total_ref = 0
        problems = []
        for n, batch in enumerate(rounds, 1):
            ref_dir = os.path.join(self.tmp, f"ref-{n}")
            ref_port = self.start_reference(ref_dir)
            p = h.storescu(ref_port, batch, "MODALITY1", "REF", config=cfg, transcript=self.transcript,
                           timeout=300)
            ref_status = {r["file"]: r["status"] for r in h.parse_storescu(p.out)}
            ref_objects = h.objects_in_dir(ref_dir)
            total_ref += len(ref_objects)

            b = self.new_bastion(name=f"round{n}")
            b.node_add("MODALITY1", host="127.0.0.1", allow="echo,store")
            b.start()
            p = b.store("MODALITY1", batch, config=cfg, timeout=300)
            bastion_status = {r["file"]: r["status"] for r in h.parse_storescu(p.out)}
            objects = b.objects()

            for f in batch:
                if ref_status.get(f) == 0 and bastion_status.get(f) != 0:
                    problems.append(f"round {n}: {os.path.relpath(f, h.PYDICOM_TEST_FILES)}: storescp "
                                    f"stored it, Bastion answered {h.fmt_status(bastion_status.get(f))}")
            for inst, ref_path in sorted(ref_objects.items()):
                src = [f for f in batch if h.sop_info(f)[1] == inst]
                name = os.path.relpath(src[0], h.PYDICOM_TEST_FILES) if src else inst
                if inst not in objects:
                    problems.append(f"round {n}: {name} ({inst}): stored by storescp, not by Bastion")
                    continue
                if h.dataset_bytes(objects[inst]) != h.dataset_bytes(ref_path):
                    problems.append(f"round {n}: {name}: Bastion's dataset bytes differ from storescp's "
                                    f"({len(h.dataset_bytes(objects[inst]))} vs "
                                    f"{len(h.dataset_bytes(ref_path))} bytes)")
                ts_ref, ts_b = h.file_meta(ref_path)[2], h.file_meta(objects[inst])[2]
                if ts_ref != ts_b:
                    problems.append(f"round {n}: {name}: transfer syntax {ts_b} in Bastion's file meta, "
                                    f"storescp received {ts_ref}")
            self.assertEqual(b.staging_leftovers(), [], f"round {n}: staging not empty")
            b.stop()
            v = b.audit_verify()
            if v.returncode != 0:
                problems.append(f"round {n}: audit verify rc={v.returncode}: {v.out.strip()}")

        skipped = len(files) - total_ref
        sys.stderr.write(f"\ncorpus: {len(files)} files, {total_ref} stored by the reference storescp "
                         f"and compared, {skipped} skipped (storescu cannot send them) over {len(rounds)} rounds\n")
        self.assertGreaterEqual(total_ref, 100, "the reference storescp stored suspiciously few files")
        if problems:
            self.fail(f"{len(problems)} problem(s):\n" + "\n".join(problems))


if __name__ == "__main__":
    unittest.main()
