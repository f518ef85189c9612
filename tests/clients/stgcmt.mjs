// A Storage Commitment SCU, as a modality runs one, built on dcmjs-dimse
// (a DIMSE implementation nobody here wrote). Driven by
// tests/integration/test_storage_commitment.py.
//
//   node stgcmt.mjs '{"port": 11112, "calling": "CT1", "called": "BASTION",
//                     "transaction": "1.2.3", "refs": [["1.2.840...", "1.2.3.4"]],
//                     "linger_ms": 5000, "listen_port": 0, "timeout_ms": 20000}'
//
// Sends the files of "store_files" first (C-STORE, same association), then
// one N-ACTION (request commitment), and waits for the N-EVENT-REPORT:
// on the same association (unless "same_association" is false), and on a
// listener of its own on 127.0.0.1:listen_port when one is given (a modality
// that releases at once and takes the report on a new association).
// With "tls": {"key", "cert", "ca"} (files) both sides use DICOM TLS with
// that client certificate, as a TLS-only modality does.
// Prints one JSON object: the N-ACTION status and each report received.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import dimse from 'dcmjs-dimse';

const { Client, Scp, Dataset } = dimse;
dimse.log.setLevel('error');
const { CStoreRequest, NActionRequest } = dimse.requests;
const { NEventReportResponse } = dimse.responses;
const { Status, SopClass, TransferSyntax, PresentationContextResult } = dimse.constants;

const args = JSON.parse(process.argv[2]);
const out = { action_status: null, reports: [], errors: [], associations: 0 };
const timeoutMs = args.timeout_ms ?? 20000;
const wantedReports = args.expect_reports ?? 1;
const pushModelInstance = '1.2.840.10008.1.20.1.1';

const security = args.tls
  ? { key: fs.readFileSync(args.tls.key), cert: fs.readFileSync(args.tls.cert), ca: fs.readFileSync(args.tls.ca),
      minVersion: 'TLSv1.2' }
  : undefined;

const asArray = (v) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

function recordReport(request, via) {
  const ds = request.getDataset();
  const el = ds ? ds.getElements() : {};
  out.reports.push({
    via,
    event_type: request.getEventTypeId(),
    transaction_uid: el.TransactionUID ?? null,
    retrieve_ae: el.RetrieveAETitle ?? null,
    referenced: asArray(el.ReferencedSOPSequence).map((i) => [i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID]),
    failed: asArray(el.FailedSOPSequence).map((i) => [i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID,
                                                     i.FailureReason]),
  });
  const response = NEventReportResponse.fromRequest(request);
  response.setStatus(args.report_status ?? Status.Success);
  return response;
}

let finished = false;
let listener;
function finish() {
  if (finished) return;
  finished = true;
  if (listener) listener.close();
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}
setTimeout(finish, timeoutMs);
const maybeDone = () => {
  if (out.action_status !== null && out.reports.length >= wantedReports && args.linger_ms === 0) finish();
};

// The modality's own listener, on loopback only.
class ReportScp extends Scp {
  associationRequested(association) {
    out.associations += 1;
    out.listener_calling = association.getCallingAeTitle();
    for (const c of association.getPresentationContexts()) {
      const context = association.getPresentationContext(c.id);
      if (context.getAbstractSyntaxUid() === SopClass.StorageCommitmentPushModel) {
        out.listener_roles = [context.getUserRole(), context.getProviderRole()];
        context.setResult(PresentationContextResult.Accept, TransferSyntax.ImplicitVRLittleEndian);
      } else {
        context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
      }
    }
    this.sendAssociationAccept();
  }
  nEventReportRequest(request, callback) {
    callback(recordReport(request, 'new association'));
    setImmediate(maybeDone);
  }
  associationReleaseRequested() {
    this.sendAssociationReleaseResponse();
  }
}

function send() {
  const client = new Client();
  out.store_statuses = [];
  for (const file of args.store_files ?? []) {
    const store = new CStoreRequest(file);
    store.on('response', (response) => out.store_statuses.push(response.getStatus()));
    client.addRequest(store);
  }
  const request = new NActionRequest(SopClass.StorageCommitmentPushModel, args.requested_instance ?? pushModelInstance,
                                     args.action_type ?? 1);
  if (!args.no_dataset) {
    const elements = {
      ReferencedSOPSequence: args.refs.map(([cls, inst]) => ({ ReferencedSOPClassUID: cls,
                                                               ReferencedSOPInstanceUID: inst })),
    };
    if (args.transaction) elements.TransactionUID = args.transaction;
    request.setDataset(new Dataset(elements));
  }
  request.on('response', (response) => {
    out.action_status = response.getStatus();
    out.action_error_comment = response.getErrorComment ? response.getErrorComment() : undefined;
    maybeDone();
  });
  client.addRequest(request);
  // A modality that takes reports only on its own listener does not answer
  // one on the requesting association ("same_association": false).
  if (args.same_association !== false) {
    client.on('nEventReportRequest', (req, callback) => {
      callback(recordReport(req, 'same association'));
    });
  }
  client.on('networkError', (e) => out.errors.push(String(e && e.message ? e.message : e)));
  client.on('associationRejected', (r) => out.errors.push('association rejected: ' + JSON.stringify(r)));
  client.on('closed', () => {
    out.closed = true;
    if (!args.listen_port) finish();
    else maybeDone();
  });
  client.send(args.host ?? '127.0.0.1', args.port, args.calling, args.called ?? 'BASTION', {
    associationLingerTimeout: args.linger_ms ?? 0,
    connectTimeout: 10000,
    associationTimeout: 10000,
    pduTimeout: timeoutMs,
    ...(security ? { securityOptions: security } : {}),
  });
}

if (args.listen_port) {
  const accept = (socket) => {
    const scp = new ReportScp(socket, { associationTimeout: 10000, pduTimeout: timeoutMs });
    scp.connected = true;
    scp.on('networkError', (e) => out.errors.push('listener: ' + String(e && e.message ? e.message : e)));
  };
  listener = security
    ? tls.createServer({ ...security, requestCert: true, rejectUnauthorized: true }, (socket) => {
        out.listener_peer_cn = socket.getPeerCertificate().subject?.CN ?? null;
        accept(socket);
      })
    : net.createServer(accept);
  listener.on('tlsClientError', (e) => out.errors.push('listener TLS: ' + e.message));
  listener.listen(args.listen_port, '127.0.0.1', send);
} else {
  send();
}
