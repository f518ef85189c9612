#include "scan/knowledge.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "util/text.h"

namespace bastion::scan {
namespace {

constexpr std::string_view kAccess = "45 CFR 164.312(a)(1) Access control";
constexpr std::string_view kAuth = "45 CFR 164.312(d) Person or entity authentication";
constexpr std::string_view kTransmission = "45 CFR 164.312(e)(1) Transmission security";
constexpr std::string_view kIntegrity = "45 CFR 164.312(c)(1) Integrity";
constexpr std::string_view kAccessAndAuth =
    "45 CFR 164.312(a)(1) Access control; 164.312(d) Person or entity authentication";

const std::vector<CheckInfo> kChecks = {
    {"D1", "DICOM reachable",
     "Every port that speaks DICOM is a door; from outside the site's network it is the first "
     "thing the "
     "2016-2025 internet scans found.",
     kAccess,
     "Expose DICOM only where modalities need it: firewall the port to the modalities' addresses, "
     "or reach it "
     "through a VPN.",
     "Orthanc: set \"DicomServerEnabled\": false if no modality sends to it; otherwise firewall "
     "DicomPort (4242).",
     "dcm4chee: restrict the DICOM connection's bind address and firewall port 11112 to the "
     "modalities.",
     "DCMTK tools: bind the SCP behind a firewall; they have no access control of their own.",
     "Bastion: plain DICOM listens on loopback only by default; keep [dicom] plain_listen on "
     "127.0.0.1."},
    {"D2", "called AE not enforced",
     "The server accepts an association addressed to any AE title, so nothing is needed to start "
     "talking to it.",
     kAccessAndAuth,
     "Make the server check the called AE title (reject with reason 7, 'called AE title not "
     "recognized').",
     "Orthanc: set \"DicomCheckCalledAet\": true.",
     "dcm4chee: only configured AE titles are accepted; check that no catch-all AE (accept any) is "
     "configured.",
     "DCMTK dcmqrscp: list only real AE titles in the AETable; storescp accepts any called AE: do "
     "not expose it.",
     "Bastion rejects unknown called AE titles; this finding means the scanned server is not "
     "Bastion."},
    {"D3", "calling AE not enforced",
     "Any calling AE title is accepted: the 'AE title check' that the 2019 and 2025 scans found "
     "missing on >99% "
     "of exposed servers. Anyone who can connect can use the services that were accepted.",
     kAccessAndAuth,
     "Accept associations only from registered calling AE titles (reject others with reason 3, "
     "'calling AE title "
     "not recognized'), each bound to its address.",
     "Orthanc: declare every modality in \"DicomModalities\" and set \"DicomAlwaysAllowStore\": "
     "false, "
     "\"DicomAlwaysAllowEcho\": false (plus \"DicomCheckModalityHost\": true).",
     "dcm4chee: enable 'Accept only configured AE titles' (dcmAcceptOnlyConfiguredAETitles / "
     "allowed calling AE "
     "titles) on the archive's network AE.",
     "DCMTK dcmqrscp: give each AE in the AETable a peer list (not ANY); storescp has no such "
     "check: do not expose it.",
     "Bastion: register nodes with `bastion node add --ae AE --host ADDR --allow ...`; remove "
     "catch-all entries."},
    {"D4", "host not bound to AE title",
     "A registered AE title is accepted from an address it is not registered for: AE titles are "
     "printed in "
     "conformance statements and are easy to learn, so without the address check they are no "
     "secret.",
     kAuth, "Bind each registered AE title to the addresses it connects from.",
     "Orthanc: set \"DicomCheckModalityHost\": true and give each modality its real address.",
     "dcm4chee: configure the AE's hostname and enable the 'check calling host' option of the "
     "network AE.",
     "DCMTK dcmqrscp: list peers with their host names in HostTable and use them in the AETable.",
     "Bastion: register nodes by exact address (`--host 10.1.2.3`), not by range."},
    {"D5", "guessable AE titles",
     "A vendor's default AE title (from a conformance statement) opened the association: how the "
     "2023 scans got "
     "past AE title checks.",
     kAuth,
     "Do not use vendor default AE titles for trusted peers; bind AE titles to addresses and "
     "prefer TLS with "
     "client certificates.",
     "Orthanc: rename the declared modalities' AE titles away from defaults and set "
     "\"DicomCheckModalityHost\": true.",
     "dcm4chee: rename default AE titles (DCM4CHEE, DCMQRSCP, ...) and restrict accepted calling "
     "AE titles.",
     "DCMTK dcmqrscp: do not list default titles (ANY-SCP, STORESCU, ...) as peers.",
     "Bastion: register nodes under their real AE titles and exact addresses."},
    {"D6", "capability map",
     "Which services an unauthenticated peer is offered; it feeds the query, retrieve and store "
     "checks.",
     kAccess, "Offer each peer only the services it needs.", "", "", "", ""},
    {"D7", "echo-only gating",
     "The server answers C-ECHO to anyone but refuses every operation: reported as gated, not as "
     "open.",
     kAccess, "Nothing to fix for data access; consider refusing unknown peers altogether.",
     "Orthanc: \"DicomAlwaysAllowEcho\": false refuses echo from undeclared modalities too.", "",
     "", ""},
    {"D8", "query leak",
     "A wildcard C-FIND (PatientName=*) returned patient identities to a peer that proved nothing "
     "about itself: "
     "exactly how names, birth dates and procedures of millions of patients were read in 2019.",
     kAccessAndAuth,
     "Refuse C-FIND from peers that are not registered; register each query client by AE title and "
     "address, "
     "over TLS with client certificates.",
     "Orthanc: keep \"DicomAlwaysAllowFind\": false, declare modalities with \"AllowFind\" only "
     "where needed and "
     "set \"DicomCheckModalityHost\": true.",
     "dcm4chee: restrict query to configured AE titles ('Accept only configured AE titles') and "
     "use TLS.",
     "DCMTK dcmqrscp: give the storage area's AETable entry a peer list instead of ANY.",
     "Bastion: allow `find` only to nodes that need it (`--allow echo,store` for modalities)."},
    {"D9", "retrieve leak", "C-GET handed over images to a peer that proved nothing about itself.",
     kAccessAndAuth,
     "Refuse C-GET from peers that are not registered; require TLS with client certificates.",
     "Orthanc: keep \"DicomAlwaysAllowGet\": false and give \"AllowGet\" only to declared "
     "modalities.",
     "dcm4chee: restrict retrieve to configured AE titles.",
     "DCMTK dcmqrscp: give the AETable entry a peer list instead of ANY.",
     "Bastion: allow `get` only to nodes that need it."},
    {"D10", "move to anyone",
     "On request from an unknown peer the server opened a connection to a destination the "
     "requester chose and "
     "sent images there.",
     kAccessAndAuth,
     "Send C-MOVE results only to registered destinations, on behalf of registered requesters.",
     "Orthanc: keep \"DicomAlwaysAllowMove\": false; destinations must be declared modalities.",
     "dcm4chee: restrict move destinations to configured AEs and requesters to configured AE "
     "titles.",
     "DCMTK dcmqrscp: use --move-aetitle or --move-host (not --move-unrestricted) and a peer list "
     "in the AETable.",
     "Bastion: allow `move` only to nodes that need it; destinations must be registered nodes."},
    {"D11", "store from anyone",
     "The server stored an object from a peer that proved nothing about itself: anyone can add or "
     "overwrite "
     "studies, fill the disk, or plant a malicious file for a viewer to open.",
     "45 CFR 164.312(c)(1) Integrity; 164.312(a)(1) Access control",
     "Accept C-STORE only from registered modalities. Delete the synthetic instance the scan "
     "stored (patient "
     "'BASTION^SCAN^SYNTHETIC').",
     "Orthanc: set \"DicomAlwaysAllowStore\": false and declare modalities with \"AllowStore\".",
     "dcm4chee: restrict storage to configured AE titles.",
     "DCMTK storescp accepts anything by design: never expose it.",
     "Bastion: allow `store` only to registered modalities."},
    {"D12", "identity not enforced",
     "An association carrying data services was accepted with a wrong user/passcode (or a passcode "
     "was taken "
     "over plain TCP, where anyone on the path reads it).",
     kAuth,
     "Require authentication of DICOM peers: TLS with client certificates, or User Identity "
     "checked by the "
     "server, and never passcodes over plain TCP.",
     "Orthanc does not check DICOM User Identity: use DICOM TLS with "
     "\"DicomTlsRemoteCertificateRequired\": true.",
     "dcm4chee: enable user identity negotiation with Keycloak and TLS on the DICOM connection.",
     "DCMTK tools do not check User Identity: put TLS with client certificates in front of them.",
     "Bastion: DICOM TLS with client certificates is the default listener."},
    {"D13", "transport",
     "DICOM without TLS sends names, IDs and images in clear text; weak TLS (old versions, "
     "non-AEAD suites, RSA key "
     "exchange) or a bad certificate undoes the protection. Trend Micro's 2025 data: 0.14% of "
     "servers used TLS.",
     kTransmission,
     "Use DICOM TLS (port 2762) with the BCP 195 profile: TLS 1.2/1.3, AEAD suites with forward "
     "secrecy, a valid "
     "certificate of at least 2048-bit RSA or 256-bit EC, and client certificates.",
     "Orthanc: \"DicomTlsEnabled\": true with \"DicomTlsRemoteCertificateRequired\": true, "
     "\"DicomTlsMinimumProtocolVersion\" 4 (TLS 1.2) and firewall the plain DICOM port.",
     "dcm4chee: configure a TLS connection (dicomTLSCipherSuite with AEAD suites, TLSv1.2+) and "
     "remove the plain one.",
     "DCMTK: run the SCP with +tls ... --profile-bcp195-nd and +cf for client certificates.",
     "Bastion: keep [dicom] tls_listen with the BCP 195 profile; plain DICOM only on loopback."},
    {"D14", "software banner",
     "The implementation class UID / version name (or HTTP answer) names a version with published "
     "vulnerabilities. Matching is by version: a distribution may have backported the fix.",
     "45 CFR 164.312(c)(1) Integrity; 164.308(a)(1)(ii)(B) risk management",
     "Upgrade to a fixed version, or obtain your vendor's statement that the fixes are backported.",
     "Orthanc: upgrade to the current release (Debian 12 backports CVE-2023-33466 in "
     "1.10.1+dfsg-2+deb12u1).",
     "dcm4chee: upgrade to the current 5.x release.",
     "DCMTK: upgrade to 3.6.9 or later (Debian 12's 3.6.7-9~deb12u4 carries backported fixes).",
     ""},
    {"D15", "unbounded answers",
     "A wildcard query is answered in full: one request pulls the whole patient list, and can "
     "exhaust the server.",
     kAccess, "Limit the number of C-FIND answers per query.",
     "Orthanc: set \"LimitFindResults\" and \"LimitFindInstances\".",
     "dcm4chee: set the query fetch size / maximum number of query results on the archive.",
     "DCMTK dcmqrscp: set MaxStudiesPerPatient/max associations in dcmqrscp.cfg.",
     "Bastion: query limits are part of the query/retrieve service."},
    {"W1", "cleartext web",
     "The web front end answers over HTTP: logins, session cookies and PHI cross the network in "
     "clear text. "
     "Greenbone (2019) found 39 web viewers over plain HTTP with no login.",
     kTransmission, "Serve the web front end over HTTPS only; redirect HTTP to HTTPS or close it.",
     "Orthanc: \"SslEnabled\": true with \"SslCertificate\", or put it behind an HTTPS reverse "
     "proxy and bind it "
     "to loopback.",
     "dcm4chee: use the HTTPS listener (8443) and disable the HTTP one (8080).", "",
     "Bastion: the web side is HTTPS-only off loopback."},
    {"W2", "open REST API", "The REST API answered with data without any login.", kAccessAndAuth,
     "Require authentication on every REST route.",
     "Orthanc: \"AuthenticationEnabled\": true with \"RegisteredUsers\", and keep "
     "\"RemoteAccessAllowed\": false "
     "unless behind an authenticating proxy.",
     "dcm4chee: secure the archive with Keycloak (the 'secure' docker images) so /dcm4chee-arc/ "
     "requires a token.",
     "", "Bastion: every web route requires a session or token."},
    {"W3", "open DICOMweb",
     "QIDO/WADO answered without login: studies can be searched and downloaded by anyone who can "
     "connect (STOW: "
     "anyone can add objects).",
     kAccessAndAuth, "Require authentication on the DICOMweb endpoints.",
     "Orthanc: enable \"AuthenticationEnabled\" (it covers the DicomWeb plugin's /dicom-web "
     "routes).",
     "dcm4chee: secure the RS endpoints with Keycloak.", "",
     "Bastion: DICOMweb requires a token or session."},
    {"W4", "default credentials",
     "A documented default user name and password opened the web front end.", kAuth,
     "Remove default accounts; give every user an individual, strong password.",
     "Orthanc: replace the \"RegisteredUsers\" entry orthanc/orthanc (the Debian and Docker "
     "samples use it).",
     "dcm4chee: change the default Keycloak admin and user passwords.", "",
     "Bastion has no default password: `bastion init` makes a random one."},
    {"W5", "open viewer", "A web viewer shows studies without a login.", kAccessAndAuth,
     "Put the viewer behind authentication.",
     "Orthanc: Orthanc Explorer and the Stone/OHIF plugins follow \"AuthenticationEnabled\": turn "
     "it on.",
     "dcm4chee: secure the UI with Keycloak.", "", "Bastion: the viewer requires a session."},
    {"W6", "dangerous admin routes",
     "A route that runs code or writes files on the server is reachable.",
     "45 CFR 164.312(a)(1) Access control; "
     "164.312(c)(1) Integrity",
     "Disable script execution and file-system routes on production servers.",
     "Orthanc: set \"ExecuteLuaEnabled\": false and \"RestApiWriteToFileSystemEnabled\": false "
     "(Orthanc >= 1.12), "
     "and require authentication.",
     "", "", ""},
    {"W7", "web hardening",
     "Missing HSTS, cookies without Secure/HttpOnly, or weak TLS let an attacker downgrade or "
     "steal sessions.",
     kTransmission,
     "Send Strict-Transport-Security, mark cookies Secure and HttpOnly, use TLS 1.2+ with AEAD "
     "suites.",
     "Orthanc: terminate TLS at a reverse proxy that adds HSTS.", "", "", ""},
    {"S1", "self: listeners", "Where Bastion listens, read from its own configuration.",
     kTransmission, "Keep plain DICOM on loopback; expose only the TLS listener.", "", "", "",
     "Bastion: [dicom] plain_listen = [\"127.0.0.1:11112\"]."},
    {"S2", "self: nodes over plain TCP",
     "Nodes that may use the plain DICOM port send PHI unencrypted when that port is reachable off "
     "the host.",
     kTransmission,
     "Mark nodes --tls-only and give them client certificates (`bastion node cert`).", "", "", "",
     "Bastion: `bastion node remove --ae AE` then `bastion node add ... --tls-only`."},
    {"S3", "self: node registry",
     "Registry entries that admit whole networks or every service make the AE title check "
     "meaningless.",
     kAccess, "Register each node by exact address with only the services it needs.", "", "", "",
     "Bastion: re-add the node with `--host ADDR` (exact) and `--allow` limited to its job."},
    {"S4", "self: certificates",
     "An expired server or CA certificate stops every TLS peer; one close to expiry will soon.",
     kTransmission, "Renew the certificate before it expires.", "", "", "",
     "Bastion: `bastion tls renew --data DIR` (or renew with the site's PKI and replace the files); "
     "the running server takes it up at its next TLS connection."},
    {"S5", "self: web front end",
     "Where the web UI, viewer and DICOMweb listen, and how long a login lasts: a session that "
     "outlives the person at the screen (no automatic logoff), or a browser not told to insist on "
     "HTTPS (no HSTS), opens PHI to the next person at the keyboard or on the network path.",
     "45 CFR 164.312(a)(2)(iii) Automatic logoff; 164.312(e)(1) Transmission security",
     "End idle sessions after 15 minutes at most and every session after 12 hours; send "
     "Strict-Transport-Security for at least 180 days; serve the web over HTTPS only.",
     "", "", "",
     "Bastion: in bastion.toml [web] keep session_idle_seconds <= 900, session_max_seconds <= "
     "43200, hsts_max_age >= 15552000 (default 31536000) and http_listen on loopback only; "
     "restart `bastion serve`."},
};

}  // namespace

const std::vector<CheckInfo>& AllChecks() { return kChecks; }

const CheckInfo* FindCheck(std::string_view id) {
  for (const auto& c : kChecks)
    if (c.id == id) return &c;
  return nullptr;
}

Finding MakeFinding(std::string_view id, Severity severity, std::string target, std::string title,
                    std::string sent, std::string received, const Software& software) {
  Finding f;
  f.id = std::string(id);
  f.severity = severity;
  f.target = std::move(target);
  f.title = std::move(title);
  f.sent = std::move(sent);
  f.received = std::move(received);
  if (const CheckInfo* c = FindCheck(id)) {
    f.check = std::string(c->name);
    f.why = std::string(c->why);
    f.hipaa = std::string(c->hipaa);
    std::string_view specific;
    if (software.product == "Orthanc")
      specific = c->fix_orthanc;
    else if (software.product == "dcm4chee")
      specific = c->fix_dcm4chee;
    else if (software.product == "DCMTK")
      specific = c->fix_dcmtk;
    else if (software.product == "Bastion")
      specific = c->fix_bastion;
    f.fix = std::string(c->fix);
    if (!specific.empty()) f.fix = std::string(specific) + " " + f.fix;
  }
  return f;
}

std::string DescribeReject(const RejectInfo& rj) {
  std::string result = rj.result == 1   ? "rejected-permanent"
                       : rj.result == 2 ? "rejected-transient"
                                        : "result " + std::to_string(rj.result);
  std::string source, reason;
  switch (rj.source) {
    case 1:
      source = "service-user";
      switch (rj.reason) {
        case 1:
          reason = "no reason given";
          break;
        case 2:
          reason = "application context name not supported";
          break;
        case 3:
          reason = "calling AE title not recognized";
          break;
        case 7:
          reason = "called AE title not recognized";
          break;
        default:
          reason = "reserved";
          break;
      }
      break;
    case 2:
      source = "service-provider (ACSE)";
      switch (rj.reason) {
        case 1:
          reason = "no reason given";
          break;
        case 2:
          reason = "protocol version not supported";
          break;
        default:
          reason = "reserved";
          break;
      }
      break;
    case 3:
      source = "service-provider (presentation)";
      switch (rj.reason) {
        case 1:
          reason = "temporary congestion";
          break;
        case 2:
          reason = "local limit exceeded";
          break;
        default:
          reason = "reserved";
          break;
      }
      break;
    default:
      source = "source " + std::to_string(rj.source);
      reason = "unknown";
  }
  return "A-ASSOCIATE-RJ " + result + ", source " + std::to_string(rj.source) + " " + source +
         ", reason " + std::to_string(rj.reason) + " (" + reason + ")";
}

std::string DescribeDimseStatus(std::uint16_t s) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%04X", s);
  std::string text;
  if (s == 0x0000)
    text = "Success";
  else if (s == 0xFF00)
    text = "Pending";
  else if (s == 0xFF01)
    text = "Pending (optional keys not supported)";
  else if (s == 0xFE00)
    text = "Cancel";
  else if (s == 0x0122)
    text = "Refused: SOP class not supported";
  else if (s == 0x0124)
    text = "Refused: not authorized";
  else if (s == 0xA700 || s == 0xA701 || s == 0xA702)
    text = "Refused: out of resources";
  else if (s == 0xA801)
    text = "Refused: move destination unknown";
  else if (s == 0xA900)
    text = "Error: identifier does not match SOP class";
  else if (s == 0xB000)
    text = "Warning: sub-operations complete, one or more failures";
  else if ((s & 0xF000) == 0xA000)
    text = "Failure";
  else if ((s & 0xF000) == 0xC000)
    text = "Failure: unable to process";
  else if ((s & 0xF000) == 0xB000)
    text = "Warning";
  else
    text = "Failure";
  return std::string(hex) + " " + text;
}

int CompareVersions(std::string_view a, std::string_view b) {
  auto next = [](std::string_view& s) -> long {
    long v = 0;
    std::size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
    while (i < s.size() && !(s[i] >= '0' && s[i] <= '9')) ++i;
    s.remove_prefix(i);
    return v;
  };
  while (!a.empty() || !b.empty()) {
    long x = next(a), y = next(b);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

Software RecogniseDicom(std::string_view uid, std::string_view name) {
  Software s;
  std::string n(Trim(name));
  std::string u(Trim(uid));
  s.evidence = "implementation class UID " + Printable(u) +
               (n.empty() ? "" : ", version name " + Printable(n));
  std::string upper = ToUpper(n);
  if (upper.rfind("OFFIS_DCMTK_", 0) == 0 && n.size() >= 15) {
    // OFFIS_DCMTK_367 -> 3.6.7; OFFIS_DCMTK_3610 -> 3.6.10
    std::string digits = n.substr(12);
    if (digits.size() >= 3 && std::all_of(digits.begin(), digits.end(), ::isdigit)) {
      s.product = "DCMTK";
      s.version = digits.substr(0, 1) + "." + digits.substr(1, 1) + "." + digits.substr(2);
    }
  } else if (upper.rfind("ORTHANC", 0) == 0) {
    s.product = "Orthanc";
    std::string v = n.substr(7);
    while (!v.empty() && !std::isdigit(static_cast<unsigned char>(v[0]))) v.erase(0, 1);
    s.version = v;
  } else if (upper.rfind("DCM4CHE", 0) == 0) {
    s.product = "dcm4chee";
    auto dash = n.find('-');
    if (dash != std::string::npos) s.version = n.substr(dash + 1);
  } else if (upper.rfind("BASTION", 0) == 0) {
    s.product = "Bastion";
    auto dash = n.find('_');
    if (dash != std::string::npos) s.version = n.substr(dash + 1);
  } else if (u.rfind("1.2.276.0.7230010.3", 0) == 0) {
    s.product = "DCMTK";  // OFFIS's root without the usual version name
  } else if (u.rfind("1.2.40.0.13.1", 0) == 0) {
    s.product = "dcm4chee";
  }
  return s;
}

Software RecogniseHttp(std::string_view server_header, std::string_view orthanc_version) {
  Software s;
  std::string server(Trim(server_header));
  if (!orthanc_version.empty()) {
    s.product = "Orthanc";
    s.version = std::string(Trim(orthanc_version));
    s.evidence = "GET /system \"Version\": " + Printable(s.version);
    return s;
  }
  if (ToUpper(server).rfind("ORTHANC", 0) == 0) {
    s.product = "Orthanc";
    auto slash = server.find('/');
    if (slash != std::string::npos) s.version = server.substr(slash + 1);
    s.evidence = "HTTP Server: " + Printable(server);
  }
  return s;
}

std::int64_t HstsMaxAge(std::string_view value) {
  for (const auto& directive : Split(value, ';')) {
    auto eq = directive.find('=');
    if (eq == std::string::npos || ToUpper(Trim(directive.substr(0, eq))) != "MAX-AGE") continue;
    std::string_view number = Trim(std::string_view(directive).substr(eq + 1));
    if (number.size() >= 2 && number.front() == '"' && number.back() == '"')
      number = number.substr(1, number.size() - 2);
    std::int64_t seconds = -1;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), seconds);
    if (ec != std::errc() || end != number.data() + number.size() || seconds < 0) return -1;
    return seconds;
  }
  return -1;
}

const std::vector<KnownVulnerability>& VulnerabilityTable() {
  static const std::vector<KnownVulnerability> kTable = {
      {"DCMTK", "3.6.7", "CVE-2022-2119", 8.2,
       "SCP relative path traversal: a C-STORE can write files outside the storage folder"},
      {"DCMTK", "3.6.7", "CVE-2022-2120", 7.5,
       "SCU relative path traversal when receiving C-GET results"},
      {"DCMTK", "3.6.7", "CVE-2022-2121", 6.5, "NULL pointer dereference: denial of service"},
      {"DCMTK", "3.6.7", "CVE-2021-41687", 7.5,
       "memory leak in dcmqrscp / storescp: denial of service"},
      {"DCMTK", "3.6.7", "CVE-2021-41689", 7.5,
       "NULL pointer dereference in dcmqrscp: denial of service"},
      {"DCMTK", "3.6.8", "CVE-2022-43272", 7.5,
       "memory leak via the T_ASC_Association object: denial of service"},
      {"DCMTK", "3.6.9", "CVE-2024-34508", 7.5,
       "segmentation fault in dcmnet via an invalid DIMSE message: denial of service"},
      {"DCMTK", "3.6.9", "CVE-2024-34509", 7.5,
       "segmentation fault in dcmdata via an invalid DIMSE message: denial of service"},
      {"Orthanc", "1.5.8", "CVE-2025-0896", 9.2,
       "remote access without basic authentication by default"},
      {"Orthanc", "1.12.0", "CVE-2023-33466", 8.8,
       "authenticated file overwrite through the REST API, leading to code execution"},
  };
  return kTable;
}

std::vector<KnownVulnerability> VulnerabilitiesFor(const Software& software) {
  std::vector<KnownVulnerability> out;
  if (software.version.empty()) return out;
  for (const auto& v : VulnerabilityTable())
    if (v.product == software.product && CompareVersions(software.version, v.fixed_in) < 0)
      out.push_back(v);
  return out;
}

Severity SeverityForCvss(double cvss) {
  if (cvss >= 9.0) return Severity::kCritical;
  if (cvss >= 7.0) return Severity::kHigh;
  if (cvss >= 4.0) return Severity::kMedium;
  if (cvss > 0.0) return Severity::kLow;
  return Severity::kInfo;
}

}  // namespace bastion::scan
