// Drives the npm package dicomweb-client (the library OHIF grew from)
// against a running Bastion, in Node with an XMLHttpRequest polyfill.
//   node dicomweb_client.mjs BASE_URL TOKEN FILE...
// The CA comes from NODE_EXTRA_CA_CERTS. Prints one JSON object of what it
// saw; exits 1 with the error on stderr when a call fails.
import fs from "node:fs";
import XMLHttpRequest from "xhr2";
import dwc from "dicomweb-client";

globalThis.XMLHttpRequest = XMLHttpRequest;
const [base, token, ...files] = process.argv.slice(2);
const client = new dwc.api.DICOMwebClient({ url: base, headers: { Authorization: `Bearer ${token}` } });
const tag = (obj, t) => (obj[t] && obj[t].Value ? obj[t].Value[0] : undefined);

async function main() {
  const out = {};
  // STOW-RS: all datasets in one body, as the library sends it.
  const datasets = files.map((f) => {
    const b = fs.readFileSync(f);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  });
  const stow = await client.storeInstances({ datasets });
  out.stow_bytes = stow ? (typeof stow === "string" ? stow.length : JSON.stringify(stow).length) : 0;

  const studies = await client.searchForStudies({ queryParams: { PatientName: "*", limit: 100 } });
  out.studies = studies.map((s) => tag(s, "0020000D"));
  const study = studies.find((s) => tag(s, "00100020") === "1CT1");
  if (!study) throw new Error("CT_small's study not found by searchForStudies");
  const studyInstanceUID = tag(study, "0020000D");
  out.patient_name = tag(study, "00100010");

  const series = await client.searchForSeries({ studyInstanceUID });
  const seriesInstanceUID = tag(series[0], "0020000E");
  const instances = await client.searchForInstances({ studyInstanceUID, seriesInstanceUID });
  const sopInstanceUID = tag(instances[0], "00080018");
  out.series = series.length;
  out.instances = instances.length;

  const metadata = await client.retrieveSeriesMetadata({ studyInstanceUID, seriesInstanceUID });
  out.metadata_rows = tag(metadata[0], "00280010");
  out.bulk_data_uri = metadata[0]["7FE00010"] && metadata[0]["7FE00010"].BulkDataURI;

  const frames = await client.retrieveInstanceFrames({
    studyInstanceUID, seriesInstanceUID, sopInstanceUID, frameNumbers: [1],
    mediaTypes: [{ mediaType: "application/octet-stream", transferSyntaxUID: "*" }],
  });
  out.frame_bytes = frames.map((f) => f.byteLength);

  const rendered = await client.retrieveInstanceRendered({
    studyInstanceUID, seriesInstanceUID, sopInstanceUID, mediaTypes: [{ mediaType: "image/jpeg" }],
  });
  // (this version hands single-part answers back as a one-element array)
  const r = new Uint8Array(Array.isArray(rendered) ? rendered[0] : rendered);
  out.rendered_jpeg = r[0] === 0xff && r[1] === 0xd8;

  const instance = await client.retrieveInstance({ studyInstanceUID, seriesInstanceUID, sopInstanceUID });
  out.instance_bytes = instance.byteLength;
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(`dicomweb-client failed: ${e && (e.stack || e.message || JSON.stringify(e))}\n`);
  if (e && e.request) process.stderr.write(`status ${e.request.status} ${e.request.responseURL || ""}\n`);
  process.exit(1);
});
