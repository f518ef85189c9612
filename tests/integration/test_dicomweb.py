"""DICOMweb (PS3.18) through curl: QIDO-RS at every level, as OHIF and other
real clients send it (../shared/DICOMWEB.md), over the pydicom corpus.

What must hold: the OHIF study-list URL works verbatim (keywords and hex tags
mixed, `*` wildcards, backslash UID lists, series-level includefield); the
matching rules of C-FIND apply (case-insensitive names in every script,
date ranges, UID lists by comma or backslash); the JSON model is right (no
empty Value, arrays, numbers, PN objects, ascending tags, UTF-8); paging
with limit/offset neither loses nor repeats a match; bad input gets a clear
400 and path parameters cannot traverse; nobody without credentials or the
find permission gets anything; every search is an audit record.
"""

import json
import os
import urllib.parse
import unittest

import harness as h

CHARSET_FILES = os.path.join(os.path.dirname(h.pydicom.__file__), "data", "charset_files")
READER_PASSWORD = "quartz-meadow-lantern-81"
CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"  # CT_small.dcm, PatientID 1CT1
OHIF_STUDY_LIST = ("/dicom-web/studies?PatientName=*{name}*&00100020=*{pid}*&AccessionNumber=**"
                   "&StudyDescription=**&ModalitiesInStudy={mod}&StudyDate=19700102-20991231"
                   "&limit=101&offset=0&fuzzymatching=false"
                   "&includefield=00081030%2C00080060%2C00080090%2C00100030")


class DicomWebQidoTest(h.BastionTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()

    def setUp(self):
        super().setUp()
        b = self.b = self.new_bastion()
        p = b.import_(h.PYDICOM_TEST_FILES, CHARSET_FILES)
        self.assertIn(p.returncode, (0, 4), p.out)  # 4: some files in the corpus are not DICOM
        for role, password in (("reader", READER_PASSWORD), ("uploader", "copper-harbor-violin-37")):
            p = b.cli("user", "add", "--data", b.data, role, "--role", role, "--password-stdin",
                      input=password.encode())
            self.assertEqual(p.returncode, 0, p.out)
        p = b.cli("token", "create", "--data", b.data, "--user", "reader", "--expires", "1d")
        self.assertEqual(p.returncode, 0, p.out)
        self.token = p.stdout.strip()
        b.start()
        self.web = h.WebClient(b, self.transcript)

    def qido(self, path, status=200, accept="application/dicom+json", **kw):
        headers = list(kw.pop("headers", ()))
        if accept:
            headers.append(("Accept", accept))
        r = self.web.get(path, token=self.token, cookies=False, headers=headers, **kw)
        self.assertEqual(r.status, status, f"GET {path}: {r}")
        if status == 200:
            self.assertTrue(r.header("content-type").startswith("application/dicom+json")
                            or r.header("content-type").startswith("application/json"), r)
            return r.json()
        return r

    @staticmethod
    def value(obj, tag):
        return obj.get(tag, {}).get("Value", [None])[0]

    def check_json_model(self, results):
        for obj in results:
            keys = list(obj)
            self.assertEqual(keys, sorted(keys), "tags not in ascending order")
            for tag, el in obj.items():
                self.assertRegex(tag, r"^[0-9A-F]{8}$")
                self.assertIn("vr", el)
                if "Value" in el:
                    self.assertIsInstance(el["Value"], list)
                    self.assertTrue(el["Value"], f"empty Value array in {tag}")
                    self.assertNotEqual(el["Value"], [""], f"Value [\"\"] in {tag}")
                    if el["vr"] == "PN":
                        for v in el["Value"]:
                            self.assertIsInstance(v, dict)
                    if el["vr"] in ("IS", "US", "UL"):
                        for v in el["Value"]:
                            self.assertTrue(v is None or isinstance(v, int), f"{tag} {v!r} is not a number")

    # --- studies ------------------------------------------------------------

    def test_ohif_study_list_verbatim(self):
        got = self.qido(OHIF_STUDY_LIST.format(name="", pid="", mod="CT"))
        self.check_json_model(got)
        uids = {self.value(o, "0020000D") for o in got}
        self.assertIn(CT_STUDY, uids)
        for o in got:
            self.assertIn("CT", o["00080061"]["Value"], "ModalitiesInStudy=CT matched a study without CT")
            for tag in ("0020000D", "00080020", "00080030", "00080050", "00100010", "00100020", "00100030",
                        "00201208", "00081030", "00080061", "00080090"):
                self.assertIn(tag, o, f"OHIF reads {tag}; missing")
        one = self.qido(OHIF_STUDY_LIST.format(name="compressedsamples", pid="1CT", mod="CT"))
        self.assertEqual([self.value(o, "0020000D") for o in one], [CT_STUDY])
        self.assertEqual(self.value(one[0], "00100010"), {"Alphabetic": "CompressedSamples^CT1"})
        # OHIF then asks for the study by UID, and for priors by patient
        self.assertEqual(len(self.qido(f"/dicom-web/studies?StudyInstanceUID={CT_STUDY}")), 1)
        self.assertEqual(len(self.qido("/dicom-web/studies?00100020=1CT1")), 1)

    def test_matching_rules(self):
        all_studies = self.qido("/dicom-web/studies?includefield=all")
        self.assertGreater(len(all_studies), 10)
        self.check_json_model(all_studies)
        uids = [self.value(o, "0020000D") for o in all_studies]
        self.assertEqual(len(uids), len(set(uids)))
        two = uids[:2]
        for sep in (",", "%5C", "\\"):
            got = self.qido("/dicom-web/studies?StudyInstanceUID=" + sep.join(two).replace("\\", "%5C"))
            self.assertEqual({self.value(o, "0020000D") for o in got}, set(two), f"UID list with {sep!r}")
        got = self.qido("/dicom-web/studies?StudyDate=20040119")
        self.assertIn(CT_STUDY, {self.value(o, "0020000D") for o in got})
        for o in got:
            self.assertEqual(self.value(o, "00080020"), "20040119")
        got = self.qido("/dicom-web/studies?StudyDate=-20040118")
        self.assertNotIn(CT_STUDY, {self.value(o, "0020000D") for o in got})
        # wildcards, case-insensitively, in other scripts too (UTF-8 percent-encoded)
        got = self.qido("/dicom-web/studies?PatientName=" + urllib.parse.quote("山田*"))
        names = {self.value(o, "00100020"): self.value(o, "00100010") for o in got}
        self.assertEqual(set(names), {"H31EXAMPLE", "H32EXAMPLE"}, names)
        self.assertEqual(names["H31EXAMPLE"],
                         {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"})
        got = self.qido("/dicom-web/studies?PatientName=" + urllib.parse.quote("διονυσ*"))
        self.assertEqual([self.value(o, "00100010") for o in got], [{"Alphabetic": "Διονυσιος"}])
        # a key Bastion does not index: ignored with a warning, not an error
        r = self.web.get("/dicom-web/studies?PatientComments=x&limit=1", token=self.token, cookies=False)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(any("299" in w for w in r.all("warning")), r)

    def test_paging(self):
        everything = [self.value(o, "0020000D") for o in self.qido("/dicom-web/studies")]
        pages, offset = [], 0
        while True:
            page = self.qido(f"/dicom-web/studies?limit=7&offset={offset}")
            if not page:
                break
            self.assertLessEqual(len(page), 7)
            pages += [self.value(o, "0020000D") for o in page]
            offset += 7
        self.assertEqual(pages, everything, "limit/offset lost or repeated a match")
        r = self.web.get("/dicom-web/studies?limit=3", token=self.token, cookies=False)
        self.assertTrue(any("additional results" in w for w in r.all("warning")), r)

    # --- series and instances ------------------------------------------------

    def test_series_and_instances(self):
        series = self.qido(f"/dicom-web/studies/{CT_STUDY}/series")
        self.assertEqual(len(series), 1)
        self.check_json_model(series)
        se = self.value(series[0], "0020000E")
        self.assertEqual(self.value(series[0], "00080060"), "CT")
        self.assertEqual(self.value(series[0], "00201209"), 1)
        instances = self.qido(f"/dicom-web/studies/{CT_STUDY}/series/{se}/instances")
        self.assertEqual(len(instances), 1)
        self.check_json_model(instances)
        self.assertEqual(self.value(instances[0], "00080016"), "1.2.840.10008.5.1.4.1.1.2")
        self.assertEqual(self.value(instances[0], "00280010"), 128)
        self.assertEqual(len(self.qido(f"/dicom-web/studies/{CT_STUDY}/instances")), 1)
        # relational: no parent named
        mr = self.qido("/dicom-web/series?Modality=MR")
        self.assertTrue(mr)
        for o in mr:
            self.assertEqual(self.value(o, "00080060"), "MR")
            self.assertIn("0020000D", o, "a relational series answer must say which study")
        got = self.qido("/dicom-web/instances?SOPClassUID=1.2.840.10008.5.1.4.1.1.2&limit=5")
        self.assertTrue(0 < len(got) <= 5)

    # --- negotiation, bad input, access ---------------------------------------

    def test_accept_headers(self):
        for accept in ("application/dicom+json", "application/json", "*/*", None,
                       'application/dicom+json, multipart/related; type="application/dicom"',
                       "application/dicom+json; q=0.9, */*; q=0.1"):
            self.qido(f"/dicom-web/studies?StudyInstanceUID={CT_STUDY}", accept=accept)
        r = self.qido(f"/dicom-web/studies?StudyInstanceUID={CT_STUDY}", status=406, accept="image/png")
        self.assertTrue(r.header("content-type").startswith("application/problem+json"))

    def test_bad_input(self):
        for path in ("/dicom-web/studies?StudyDate=2024-13-45x", "/dicom-web/studies?limit=0",
                     "/dicom-web/studies?limit=abc", "/dicom-web/studies?offset=-1",
                     "/dicom-web/studies?PatientName=%zz", "/dicom-web/studies?fuzzymatching=maybe",
                     "/dicom-web/studies/not..a.uid/series", "/dicom-web/studies/1.2.3/series/x%2F..%2Fy/instances",
                     "/dicom-web/studies/..%2F..%2Fbastion.toml/series", "/dicom-web/studies/%2e%2e/series",
                     f"/dicom-web/studies/{CT_STUDY}/series?StudyInstanceUID=1.2.3"):
            r = self.qido(path, status=400)
            doc = r.json()
            self.assertEqual(doc["status"], 400)
            self.assertTrue(doc.get("detail"), f"{path}: a 400 must say why")
        # nothing was lost: the server still answers; the refusals are audited as queries
        self.assertEqual(len(self.qido(f"/dicom-web/studies?StudyInstanceUID={CT_STUDY}")), 1)
        refused = [rec for rec in self.b.audit_records() if rec.get("type") == "query" and rec["outcome"] != "success"]
        self.assertTrue(any(rec["details"].get("operation") == "qido" for rec in refused), refused[-3:])

    def test_access_and_audit(self):
        anonymous = h.WebClient(self.b, self.transcript, name="anonymous")
        r = anonymous.get(OHIF_STUDY_LIST.format(name="", pid="", mod="CT"))
        self.assertEqual(r.status, 401)
        self.assertNotIn(b"CompressedSamples", r.body)
        uploader = h.WebClient(self.b, self.transcript, name="uploader")
        uploader.login("uploader", "copper-harbor-violin-37")
        r = uploader.get("/dicom-web/studies?PatientName=*")
        self.assertEqual(r.status, 403)
        self.assertNotIn(b"CompressedSamples", r.body)
        # a session works as well as a token
        reader = h.WebClient(self.b, self.transcript, name="reader")
        reader.login("reader", READER_PASSWORD)
        r = reader.get("/dicom-web/studies?00100020=1CT1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()), 1)
        queries = [rec for rec in self.b.audit_records() if rec.get("type") == "query"]
        self.assertTrue(any(rec["actor"]["id"] == "reader" and rec["details"]["keys"].get("PatientID") == "1CT1"
                            and rec["details"]["matches"] == 1 for rec in queries), queries[-3:])
        self.assertEqual(self.b.audit_verify().returncode, 0)
        self.b.stop()
        self.assertNotIn("CompressedSamples", self.b.server.stderr_text(), "PHI in the ordinary log")


if __name__ == "__main__":
    unittest.main()


def multipart_body(files, boundary, leading_crlf=True, part_type="application/dicom"):
    """The body dicomweb-client sends: a leading CRLF, no per-part length, no trailing CRLF."""
    out = b"\r\n" if leading_crlf else b""
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        out += f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--".encode()


class DicomWebStowTest(h.BastionTestCase):

    def setUp(self):
        super().setUp()
        b = self.b = self.new_bastion()
        self.tokens = {}
        for role, password in (("reader", READER_PASSWORD), ("uploader", "copper-harbor-violin-37")):
            p = b.cli("user", "add", "--data", b.data, role, "--role", role, "--password-stdin",
                      input=password.encode())
            self.assertEqual(p.returncode, 0, p.out)
            p = b.cli("token", "create", "--data", b.data, "--user", role, "--expires", "1d")
            self.assertEqual(p.returncode, 0, p.out)
            self.tokens[role] = p.stdout.strip()
        b.start()
        self.web = h.WebClient(b, self.transcript)

    def stow(self, body, path="/dicom-web/studies", boundary="b0undary-1234", chunked=False, role="uploader",
             content_type=None, expect_continue=False):
        body_file = os.path.join(self.tmp, "stow-body.bin")
        with open(body_file, "wb") as f:
            f.write(body)
        ct = content_type or f'multipart/related; type="application/dicom"; boundary="{boundary}"'
        headers = [("Content-Type", ct), ("Accept", "application/dicom+json")]
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        if expect_continue:
            # as curl does by itself for bodies over 1 MiB: wait for the server's verdict before sending
            headers.append(("Expect", "100-continue"))
        return self.web.request("POST", path, headers=headers, data_file=body_file, token=self.tokens[role],
                                cookies=False, timeout=300)

    def corpus(self):
        files = []
        for name in sorted(os.listdir(h.PYDICOM_TEST_FILES)):
            path = os.path.join(h.PYDICOM_TEST_FILES, name)
            if os.path.isfile(path):
                try:
                    with open(path, "rb") as f:
                        f.seek(128)
                        if f.read(4) == b"DICM":
                            files.append(path)
                except OSError:
                    pass
        return files

    def test_stow_corpus_plain_and_chunked(self):
        files = self.corpus()
        half = len(files) // 2
        r1 = self.stow(multipart_body(files[:half], "b0undary-1234"))
        r2 = self.stow(multipart_body(files[half:], "another-b0undary"), boundary="another-b0undary", chunked=True)
        stored, failed, uids = 0, 0, set()
        for r in (r1, r2):
            self.assertIn(r.status, (200, 202), r)
            doc = r.json()
            stored += len(doc.get("00081199", {}).get("Value", []))
            uids |= {item["00081155"]["Value"][0] for item in doc.get("00081199", {}).get("Value", [])}
            failed += len(doc.get("00081198", {}).get("Value", []))
            for item in doc.get("00081198", {}).get("Value", []):
                self.assertIn("00081197", item, "a failure without its reason")
        self.assertEqual(stored + failed, len(files), "a part was neither stored nor reported")
        self.assertGreater(stored, len(files) * 0.7)
        # What STOW stored is what `bastion import` would store, and a reader finds it.
        reader = h.WebClient(self.b, self.transcript, name="reader")
        got = reader.get("/dicom-web/instances?limit=1000", token=self.tokens["reader"], cookies=False)
        self.assertEqual(got.status, 200, got)
        # (some corpus files share a SOP Instance UID: the first copy is kept, the others answered with a warning)
        self.assertEqual({o["00080018"]["Value"][0] for o in got.json()}, uids)
        records = [rec for rec in self.b.audit_records() if rec.get("type") == "instance.store"]
        self.assertGreaterEqual(len(records), len(files), "a part without its audit record")
        self.assertEqual(self.b.audit_verify().returncode, 0)
        # the same again: duplicates are success, nothing added
        r = self.stow(multipart_body(files[:3], "b0undary-1234"))
        self.assertEqual(r.status, 200, r)

    def test_stow_to_a_study_checks_membership(self):
        ct = os.path.join(h.PYDICOM_TEST_FILES, "CT_small.dcm")
        mr = os.path.join(h.PYDICOM_TEST_FILES, "MR_small.dcm")
        r = self.stow(multipart_body([ct, mr], "b0undary-1234"), path=f"/dicom-web/studies/{CT_STUDY}")
        self.assertEqual(r.status, 202, r)
        doc = r.json()
        self.assertEqual(len(doc["00081199"]["Value"]), 1)
        self.assertEqual(len(doc["00081198"]["Value"]), 1)
        self.assertTrue(doc["00081199"]["Value"][0]["00081190"]["Value"][0].startswith(
            f"/dicom-web/studies/{CT_STUDY}/series/"))

    def test_stow_over_the_upload_limit(self):
        self.b.stop()
        self.b.set_config("web", "max_upload_bytes", "40000")
        self.b.start()
        files = [os.path.join(h.PYDICOM_TEST_FILES, f) for f in ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm")]
        body = multipart_body(files, "b0undary-1234")
        self.assertGreater(len(body), 40000)
        # declared: refused before the body is read (the client waits for that verdict)
        r = self.stow(body, expect_continue=True)
        self.assertEqual(r.status, 413, r)
        # chunked: refused when the limit is crossed; whatever was complete before it is reported
        r = self.stow(body, chunked=True)
        self.assertIn(r.status, (202, 413), r)
        stored = len(h.stored_objects(self.b.data))
        if r.status == 413:
            self.assertEqual(stored, 0)
        else:
            self.assertEqual(len(r.json()["00081199"]["Value"]), stored)
        self.assertEqual(h.staging_leftovers(self.b.data), [], "a refused upload left a staged file")

    def test_stow_bad_input(self):
        ct = os.path.join(h.PYDICOM_TEST_FILES, "CT_small.dcm")
        good = multipart_body([ct], "b0undary-1234")
        # wrong boundary: nothing parses
        r = self.stow(good, boundary="not-the-boundary")
        self.assertEqual(r.status, 400, r)
        # truncated body: the closing delimiter is missing
        r = self.stow(good[:len(good) // 2], boundary="b0undary-1234")
        self.assertIn(r.status, (400, 409), r)
        # not multipart, or JSON parts
        r = self.stow(good, content_type="application/dicom")
        self.assertEqual(r.status, 415, r)
        r = self.stow(good, content_type='multipart/related; type="application/dicom+json"; boundary=b0undary-1234')
        self.assertEqual(r.status, 415, r)
        # a part that is not DICOM
        r = self.stow(b"\r\n--b0undary-1234\r\nContent-Type: application/dicom\r\n\r\nhello\r\n--b0undary-1234--")
        self.assertEqual(r.status, 409, r)
        self.assertIn("00081198", r.json())
        # a reader may not store; nobody anonymous may
        r = self.stow(good, role="reader")
        self.assertEqual(r.status, 403, r)
        anonymous = h.WebClient(self.b, self.transcript, name="anonymous")
        r = anonymous.request("POST", "/dicom-web/studies", headers=[
            ("Content-Type", 'multipart/related; type="application/dicom"; boundary=b0undary-1234')], data=good)
        self.assertEqual(r.status, 401, r)
        # nothing of the refused requests was stored, and the server still works
        got = h.WebClient(self.b, self.transcript, name="reader").get(
            "/dicom-web/instances", token=self.tokens["reader"], cookies=False)
        self.assertEqual(got.json(), [])
        r = self.stow(good)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(h.stored_objects(self.b.data).__len__(), 1)


def parse_multipart(r):
    """The parts of a multipart/related answer as (headers dict, bytes), parsed as Cornerstone does:
    the boundary from the first line starting with '--', CRLF line ends, no preamble."""
    body = r.body
    assert body.startswith(b"--"), f"a preamble before the first boundary: {body[:60]!r}"
    first = body.split(b"\r\n", 1)[0]
    boundary = first[2:]
    ct = r.header("content-type")
    assert f"boundary={boundary.decode()}" in ct, f"boundary {boundary!r} not the one in {ct}"
    parts = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n"):
            n, _, v = line.decode().partition(":")
            headers[n.strip()] = v.strip()
        if data.endswith(b"\r\n"):
            data = data[:-2]
        parts.append((headers, data))
    return parts


class DicomWebWadoTest(h.BastionTestCase):

    FILES = ["CT_small.dcm", "MR_small_RLE.dcm", "SC_rgb_jpeg_dcmtk.dcm", "JPEG2000.dcm",
             "MR_small_jpeg_ls_lossless.dcm"]

    def setUp(self):
        super().setUp()
        b = self.b = self.new_bastion()
        p = b.import_(*[os.path.join(h.PYDICOM_TEST_FILES, f) for f in self.FILES])
        self.assertEqual(p.returncode, 0, p.out)
        p = b.cli("user", "add", "--data", b.data, "reader", "--role", "reader", "--password-stdin",
                  input=READER_PASSWORD.encode())
        self.assertEqual(p.returncode, 0, p.out)
        p = b.cli("token", "create", "--data", b.data, "--user", "reader", "--expires", "1d")
        self.token = p.stdout.strip()
        b.start()
        self.web = h.WebClient(b, self.transcript)
        self.uids = {}
        for f in self.FILES:
            ds = h.pydicom.dcmread(os.path.join(h.PYDICOM_TEST_FILES, f), stop_before_pixels=True)
            self.uids[f] = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.file_meta.TransferSyntaxUID)

    def get(self, path, accept=None, status=200):
        headers = [("Accept", accept)] if accept else []
        r = self.web.get(path, headers=headers, token=self.token, cookies=False)
        self.assertEqual(r.status, status, f"GET {path} Accept {accept}: {r}")
        return r

    def instance_url(self, f):
        st, se, sop, _ = self.uids[f]
        return f"/dicom-web/studies/{st}/series/{se}/instances/{sop}"

    def test_instances_as_stored_or_explicit_le(self):
        st, se, sop, ts = self.uids["SC_rgb_jpeg_dcmtk.dcm"]
        r = self.get(self.instance_url("SC_rgb_jpeg_dcmtk.dcm"),
                     accept='multipart/related; type="application/dicom"; transfer-syntax=*')
        parts = parse_multipart(r)
        self.assertEqual(len(parts), 1)
        self.assertIn(f"transfer-syntax={ts}", parts[0][0]["Content-Type"])
        with open(os.path.join(h.PYDICOM_TEST_FILES, "SC_rgb_jpeg_dcmtk.dcm"), "rb") as f:
            original = f.read()
        # the stored dataset bytes as received (Bastion writes its own file meta group)
        self.assertEqual(parts[0][1][h.dataset_offset(parts[0][1]):], original[h.dataset_offset(original):])
        # default (no transfer-syntax): Explicit VR Little Endian, decompressed
        for accept in ('multipart/related; type="application/dicom"', "multipart/related; type=application/dicom",
                       None, "*/*"):
            parts = parse_multipart(self.get(self.instance_url("SC_rgb_jpeg_dcmtk.dcm"), accept=accept))
            self.assertIn("transfer-syntax=1.2.840.10008.1.2.1", parts[0][0]["Content-Type"], accept)
            ds = h.pydicom.dcmread(__import__("io").BytesIO(parts[0][1]))
            self.assertEqual(ds.file_meta.TransferSyntaxUID, "1.2.840.10008.1.2.1")
            self.assertEqual(ds.SOPInstanceUID, sop)
            self.assertEqual(len(ds.PixelData), ds.Rows * ds.Columns * 3)
        # a whole study, boundaries random per response
        r1 = self.get(f"/dicom-web/studies/{st}", accept='multipart/related; type="application/dicom"; transfer-syntax=*')
        r2 = self.get(f"/dicom-web/studies/{st}", accept='multipart/related; type="application/dicom"; transfer-syntax=*')
        self.assertNotEqual(r1.header("content-type"), r2.header("content-type"))
        self.assertEqual(len(parse_multipart(r1)), 1)
        self.get("/dicom-web/studies/1.2.3.4", status=404)

    def test_metadata_and_bulkdata(self):
        st, se, sop, _ = self.uids["CT_small.dcm"]
        for path in (f"/dicom-web/studies/{st}/metadata", f"/dicom-web/studies/{st}/series/{se}/metadata",
                     self.instance_url("CT_small.dcm") + "/metadata"):
            meta = self.get(path, accept="application/dicom+json").json()
            self.assertEqual(len(meta), 1)
            self.assertEqual(meta[0]["00080018"]["Value"], [sop])
            self.assertEqual(meta[0]["00100010"]["Value"], [{"Alphabetic": "CompressedSamples^CT1"}])
            uri = meta[0]["7FE00010"]["BulkDataURI"]
            self.assertFalse(uri.startswith("http") or uri.startswith("/"), f"BulkDataURI not relative: {uri}")
            self.assertFalse([k for k in meta[0] if k.startswith("0002")], "file meta in the metadata")
        # resolved against the series, as OHIF does
        r = self.get(f"/dicom-web/studies/{st}/series/{se}/{uri}", accept="application/octet-stream")
        self.assertEqual(len(r.body), 128 * 128 * 2)
        ds = h.pydicom.dcmread(os.path.join(h.PYDICOM_TEST_FILES, "CT_small.dcm"))
        self.assertEqual(r.body, ds.PixelData)
        for bad in ("..%2F..%2Fbastion.toml", "7FE00010.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",
                    "zzzz"):
            self.get(self.instance_url("CT_small.dcm") + "/bulkdata/" + bad, status=400)

    def test_frames(self):
        # uncompressed: native, single part or multipart; quoted or not; transfer-syntax=* or two parameters
        url = self.instance_url("CT_small.dcm") + "/frames/1"
        for accept in ('multipart/related; type="application/octet-stream"; transfer-syntax=*',
                       "multipart/related; type=application/octet-stream; transfer-syntax=*",
                       'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1',
                       'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.50;'
                       ' transfer-syntax=*',
                       "*/*", None,
                       'application/dicom+json, multipart/related; type="application/octet-stream"'):
            r = self.get(url, accept=accept)
            if r.header("content-type").startswith("multipart/related"):
                parts = parse_multipart(r)
                self.assertEqual(len(parts), 1)
                self.assertEqual(parts[0][0]["Content-Type"],
                                 "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", accept)
                self.assertEqual(len(parts[0][1]), 128 * 128 * 2)
            else:
                self.assertEqual(len(r.body), 128 * 128 * 2)
        # several frames in one answer, one part each (streamed one at a time)
        parts = parse_multipart(self.get(self.instance_url("CT_small.dcm") + "/frames/1,1",
                                         accept='multipart/related; type="application/octet-stream"'))
        self.assertEqual([len(p[1]) for p in parts], [128 * 128 * 2] * 2)
        self.assertEqual(parts[0][1], parts[1][1])
        # compressed: as stored when asked, the stored syntax in the part; else decoded
        st, se, sop, ts = self.uids["MR_small_RLE.dcm"]
        url = self.instance_url("MR_small_RLE.dcm") + "/frames/1"
        parts = parse_multipart(self.get(url, accept='multipart/related; type="application/octet-stream"; transfer-syntax=*'))
        self.assertEqual(parts[0][0]["Content-Type"], f"application/octet-stream; transfer-syntax={ts}")
        parts = parse_multipart(self.get(url, accept='multipart/related; type="application/octet-stream"'))
        self.assertEqual(parts[0][0]["Content-Type"], "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1")
        self.assertEqual(len(parts[0][1]), 64 * 64 * 2)
        # JPEG 2000: only as stored
        url = self.instance_url("JPEG2000.dcm") + "/frames/1"
        self.get(url, accept='multipart/related; type="application/octet-stream"', status=406)
        parts = parse_multipart(self.get(url, accept='multipart/related; type="application/octet-stream"; transfer-syntax=*'))
        self.assertTrue(parts[0][1].startswith(b"\xff\x4f\xff\x51"))
        # bad frame lists, frames that do not exist
        for frames in ("0", "a", "1,,2", "-1"):
            self.get(self.instance_url("CT_small.dcm") + "/frames/" + frames, status=400)
        self.get(self.instance_url("CT_small.dcm") + "/frames/2", status=404)

    def test_rendered_and_thumbnails(self):
        url = self.instance_url("CT_small.dcm")
        jpeg = self.get(url + "/rendered", accept="image/jpeg")
        self.assertTrue(jpeg.body.startswith(b"\xff\xd8\xff"))
        self.assertEqual(jpeg.header("content-type"), "image/jpeg")
        png = self.get(url + "/rendered", accept="image/png")
        self.assertTrue(png.body.startswith(b"\x89PNG\r\n\x1a\n"))
        windowed = self.get(url + "/rendered?window=40,80", accept="image/png")
        self.assertNotEqual(windowed.body, png.body, "window centre/width changed nothing")
        thumb = self.get(url + "/thumbnail?viewport=64,64", accept="image/png")
        width, height = int.from_bytes(thumb.body[16:20], "big"), int.from_bytes(thumb.body[20:24], "big")
        self.assertLessEqual(max(width, height), 64)
        self.get(url + "/frames/1/rendered", accept="image/jpeg")
        st, se, _, _ = self.uids["SC_rgb_jpeg_dcmtk.dcm"]
        self.assertTrue(self.get(f"/dicom-web/studies/{st}/thumbnail", accept="image/jpeg").body.startswith(b"\xff\xd8"))
        self.assertTrue(self.get(f"/dicom-web/studies/{st}/series/{se}/thumbnail").body.startswith(b"\xff\xd8"))
        self.get(url + "/rendered", accept="application/dicom", status=406)
        self.get(url + "/rendered?window=abc", accept="image/jpeg", status=400)
        self.get(url + "/rendered?quality=500", accept="image/jpeg", status=400)

    def test_wado_uri(self):
        st, se, sop, ts = self.uids["CT_small.dcm"]
        base = f"/wado?requestType=WADO&studyUID={st}&seriesUID={se}&objectUID={sop}"
        r = self.get(base + "&contentType=application/dicom&transferSyntax=*")
        ds = h.pydicom.dcmread(__import__("io").BytesIO(r.body))
        self.assertEqual(ds.SOPInstanceUID, sop)
        self.assertTrue(self.get(base).body.startswith(b"\xff\xd8"))
        self.assertTrue(self.get(base + "&contentType=image/png&windowCenter=40&windowWidth=400").body.startswith(b"\x89PNG"))
        self.get(f"/wado?requestType=WADO&studyUID={st}&seriesUID={se}", status=400)
        self.get(base.replace("requestType=WADO", "requestType=XYZ"), status=400)
        self.get(base + "&contentType=text/html", status=406)

    def test_views_are_audited_and_need_the_view_permission(self):
        url = self.instance_url("CT_small.dcm")
        anonymous = h.WebClient(self.b, self.transcript, name="anonymous")
        for path in (url, url + "/metadata", url + "/frames/1", url + "/rendered", url + "/thumbnail"):
            r = anonymous.get(path)
            self.assertEqual(r.status, 401, r)
            self.assertNotIn(b"CompressedSamples", r.body)
        self.get(url + "/rendered", accept="image/jpeg")
        self.get(url + "/frames/1")
        views = [rec for rec in self.b.audit_records() if rec.get("type") == "view"]
        ops = {rec["details"]["operation"] for rec in views if rec["outcome"] == "success"}
        self.assertTrue({"wado-rendered", "wado-frames"} <= ops, ops)
        self.assertTrue(all(rec["actor"]["id"] for rec in views))
        # CORS preflight is answered without credentials and grants no other origin
        r = anonymous.request("OPTIONS", url, headers=[("Origin", "https://elsewhere.example"),
                                                       ("Access-Control-Request-Method", "GET")])
        self.assertEqual(r.status, 204, r)
        self.assertIsNone(r.header("access-control-allow-origin"))
