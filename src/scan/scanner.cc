// The DICOM checks D1-D15 for one host:port, and the scan as a whole.
//
// Order of the checks, and why: D2 (random called AE) first, because an
// accepting server answers every later question with the same association
// type; the reject reason of each attempt decides what to try next (reason 7
// -> the called AE is checked, guess it; reason 3 -> the calling AE is
// checked, try the vendor defaults of D5). The calling AE with the widest
// access found ("best access") then runs the data checks D8-D11 and D15.
// Every attempt is one connection, paced by the Pacer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

#include "scan/knowledge.h"
#include "scan/probe.h"
#include "util/net.h"
#include "util/text.h"

namespace bastion::scan {

// ---------------------------------------------------------------- helpers

void Pacer::Wait() {
  std::unique_lock lock(mu_);
  auto now = std::chrono::steady_clock::now();
  auto next = last_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval_);
  if (connections_ > 0 && now < next) {
    std::this_thread::sleep_for(next - now);  // the rate limit itself, by design
    now = std::chrono::steady_clock::now();
  }
  last_ = now;
  ++connections_;
}

std::string EndpointName(const std::string& address, std::uint16_t port) {
  if (address.find(':') != std::string::npos) return "[" + address + "]:" + std::to_string(port);
  return address + ":" + std::to_string(port);
}

bool IsLoopbackAddress(const std::string& address) {
  auto ip = IpAddress::Parse(address);
  return ip && ip->IsLoopback();
}

bool IsPublicAddress(const std::string& address) {
  auto ip = IpAddress::Parse(address);
  if (!ip || ip->IsLoopback()) return false;
  for (const char* r : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                        "100.64.0.0/10", "fc00::/7", "fe80::/10"}) {
    auto range = IpRange::Parse(r);
    if (range && range->base.v6 == ip->v6 && range->Contains(*ip)) return false;
  }
  return true;
}

std::string TcpProbe(const std::string& address, std::uint16_t port, int timeout_seconds,
                     Pacer& pacer) {
  auto ip = IpAddress::Parse(address);
  if (!ip) return "filtered";
  pacer.Wait();
  int fd = ::socket(ip->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return "filtered";
  sockaddr_storage ss{};
  socklen_t len = ToSockaddr(*ip, port, &ss);
  std::string state = "filtered";
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (rc == 0) {
    state = "open";
  } else if (errno == ECONNREFUSED) {
    state = "closed";
  } else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, timeout_seconds * 1000) == 1) {
      int err = 0;
      socklen_t elen = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      state = err == 0 ? "open" : err == ECONNREFUSED ? "closed" : "filtered";
    }
  }
  ::close(fd);
  return state;
}

namespace {

std::string RandomAe(const char* prefix) {
  static std::mt19937_64 rng(std::random_device{}());
  static const char kChars[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string s = prefix;
  while (s.size() < 14) s += kChars[rng() % (sizeof kChars - 1)];
  return s;
}

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string Join(const std::set<std::string>& v) {
  return Join(std::vector<std::string>(v.begin(), v.end()));
}

std::string Proposed(const std::string& calling, const std::string& called,
                     const AssociationOutcome& o, const char* extra = "") {
  std::vector<std::string> names;
  for (const auto& c : o.contexts)
    if (std::find(names.begin(), names.end(), c.name) == names.end()) names.push_back(c.name);
  std::string what = names.size() > 12 ? std::to_string(names.size()) +
                                             " presentation contexts (Q/R GET and storage "
                                             "classes in the SCP role)"
                                       : Join(names);
  return "A-ASSOCIATE-RQ calling AE " + Printable(calling) + ", called AE " + Printable(called) +
         extra + ", proposing " + what;
}

std::string FormatTime(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// Vendor defaults and conformance-statement titles (D5). Kept short: every
// guess is a connection, and a well-defended server counts them.
const std::vector<std::string> kCalledGuesses = {"ANY-SCP", "ORTHANC", "DCM4CHEE", "CONQUESTSRV1",
                                                 "PACS"};
const std::vector<std::string> kCallingGuesses = {"STORESCU", "FINDSCU", "ANY-SCU", "ECHOSCU",
                                                  "ORTHANC"};

}  // namespace

// D13 / W7 findings from a TLS probe (also used by web_probe.cc).
void TlsFindings(const std::string& id, const std::string& target, const TlsOutcome& t,
                 const Software& sw, bool dicom, bool ca_given, Report& report, Service& svc) {
  const std::string sent =
      "TLS ClientHello (TLS 1.0-1.3, no client certificate); then TLS 1.1 and 1.0 alone; then "
      "TLS 1.2 with only RSA-key-exchange and only non-AEAD suites";
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  if (!t.version.empty()) svc.details["tls_version"] = t.version;
  if (!t.cipher.empty()) svc.details["tls_cipher"] = t.cipher;
  svc.details["tls_client_certificate"] = t.client_cert_required    ? "required"
                                          : t.client_cert_requested ? "requested"
                                                                    : "not requested";
  if (t.cert_not_after) svc.details["certificate_not_after"] = FormatTime(t.cert_not_after);
  if (!t.cert_key.empty())
    svc.details["certificate_key"] = t.cert_key + " " + std::to_string(t.cert_key_bits);
  if (t.legacy_accepted)
    report.findings.push_back(
        MakeFinding(id, Severity::kHigh, target, "legacy TLS accepted: " + t.legacy_version, sent,
                    "ServerHello for " + t.legacy_version + " offered alone", sw));
  if (t.weak_suite_accepted)
    report.findings.push_back(MakeFinding(
        id, Severity::kMedium, target, "weak TLS cipher suite accepted: " + t.weak_suite, sent,
        "ServerHello choosing " + t.weak_suite.substr(0, t.weak_suite.find(' ')), sw));
  if (t.handshake || !t.cert_subject.empty()) {
    if (t.cert_not_after && t.cert_not_after < now)
      report.findings.push_back(
          MakeFinding(id, Severity::kHigh, target,
                      "server certificate expired on " + FormatTime(t.cert_not_after), sent,
                      "certificate " + t.cert_subject, sw));
    else if (t.cert_not_after && t.cert_not_after < now + 30 * 86400)
      report.findings.push_back(
          MakeFinding(id, Severity::kMedium, target,
                      "server certificate expires on " + FormatTime(t.cert_not_after), sent,
                      "certificate " + t.cert_subject, sw));
    if ((t.cert_key == "RSA" && t.cert_key_bits < 2048) ||
        (t.cert_key == "EC" && t.cert_key_bits < 256))
      report.findings.push_back(
          MakeFinding(id, Severity::kMedium, target,
                      "weak certificate key: " + t.cert_key + " " + std::to_string(t.cert_key_bits),
                      sent, "certificate " + t.cert_subject, sw));
    std::string sig = ToUpper(t.cert_signature);
    if (sig.find("MD5") != std::string::npos || sig.find("SHA1") != std::string::npos)
      report.findings.push_back(MakeFinding(id, Severity::kMedium, target,
                                            "weak certificate signature: " + t.cert_signature, sent,
                                            "certificate " + t.cert_subject, sw));
    if (!t.cert_verify.empty() && t.cert_verify != "ok") {
      // Without the site's CA we cannot tell a private CA from a forged
      // certificate: that is information, not a finding, unless --ca was given.
      Severity s = ca_given ? Severity::kMedium : Severity::kInfo;
      report.findings.push_back(
          MakeFinding(id, s, target, "certificate not verified: " + t.cert_verify, sent,
                      "certificate " + t.cert_subject + " issued by " + t.cert_issuer, sw));
    }
    if (!t.aead && !t.cipher.empty())
      report.findings.push_back(MakeFinding(id, Severity::kMedium, target,
                                            "negotiated a non-AEAD suite: " + t.cipher, sent,
                                            t.version + " " + t.cipher, sw));
  }
  std::string summary =
      std::string("TLS") + (t.version.empty() ? "" : " " + t.version) +
      (t.cipher.empty() ? "" : " " + t.cipher) + "; client certificate " +
      svc.details["tls_client_certificate"] +
      (t.cert_not_after ? "; certificate valid until " + FormatTime(t.cert_not_after) : "") +
      (t.cert_key.empty() ? "" : "; key " + t.cert_key + " " + std::to_string(t.cert_key_bits));
  std::string why =
      dicom && !t.client_cert_required
          ? " Without a required client certificate anyone may open an association over TLS."
          : "";
  std::string outcome = t.handshake              ? "handshake completed"
                        : t.client_cert_required ? "handshake refused without a client certificate"
                                                 : "handshake failed: " + t.error;
  report.findings.push_back(
      MakeFinding(id, Severity::kInfo, target, summary + "." + why, sent, outcome, sw));
}

void ScanDicomEndpoint(const Options& options, Pacer& pacer, const Host& host, std::uint16_t port,
                       Report& report) {
  const std::string ep = EndpointName(host.address, port);
  const bool outside = IsPublicAddress(host.address);
  const bool loopback = IsLoopbackAddress(host.address);
  const bool ca_given = !options.ca_file.empty();
  Service svc;
  svc.endpoint = ep;
  std::string state = TcpProbe(host.address, port, options.connect_timeout_seconds, pacer);
  if (state != "open") {
    svc.protocol = state;
    report.services.push_back(svc);
    return;
  }
  Software sw;
  auto note_software = [&](const AssociationOutcome& o) {
    if (o.kind == AssociationOutcome::kAccepted && !sw.known() &&
        !o.implementation_class_uid.empty())
      sw = RecogniseDicom(o.implementation_class_uid, o.implementation_version);
  };
  DicomSession s(options, pacer);
  const std::string rnd_calling = RandomAe("BSCAN"), rnd_called = RandomAe("BSCANSCP");

  // D2, and what speaks on the port.
  bool tls = false;
  bool tls_reported = false;  // the D13 TLS findings are in the report already
  bool with_cert = false;     // behind a handshake that needed the operator's certificate
  AssociationOutcome a2 =
      s.Open(host.address, port, false, rnd_calling, rnd_called, Proposal::kCapability);
  s.Release();
  TlsOutcome tls_result;
  // DCMTK reports a connection closed before any answer as an abort: only a
  // TLS probe tells a TLS port (which hangs up on plain DICOM) from a DICOM
  // server that aborted.
  if (a2.kind == AssociationOutcome::kNotDicom || a2.kind == AssociationOutcome::kNoConnection ||
      a2.kind == AssociationOutcome::kAborted) {
    tls_result = ProbeTls(host.address, port, host.name, options, pacer);
    if (!tls_result.speaks_tls && a2.kind != AssociationOutcome::kAborted) {
      svc.protocol = "unknown";
      svc.details["answer"] = a2.Describe();
      report.services.push_back(svc);
      return;
    }
    // Otherwise a DICOM server that aborted goes on in plain DICOM; a TLS port goes on over TLS.
    if (tls_result.speaks_tls) {
      svc.protocol = "tls";
      const bool have_cert = !options.tls_certificate.empty();
      if (tls_result.client_cert_required) {
        TlsFindings("D13", ep, tls_result, sw, true, ca_given, report, svc);
        tls_reported = true;
        if (!have_cert) {
          // Nothing speaks DICOM to a peer without a certificate: reachable TLS is not an open
          // door.
          report.findings.push_back(
              MakeFinding("D1", Severity::kInfo, ep,
                          "TLS port that requires a client certificate: DICOM is not reachable "
                          "without one",
                          "TCP connect, then a TLS ClientHello without a client certificate",
                          "handshake refused without a certificate", sw));
          report.services.push_back(svc);
          return;
        }
        with_cert = true;
      }
      tls = true;
      a2 = s.Open(host.address, port, true, rnd_calling, rnd_called, Proposal::kCapability);
      s.Release();
      if (a2.kind != AssociationOutcome::kAccepted && a2.kind != AssociationOutcome::kRejected &&
          a2.kind != AssociationOutcome::kAborted) {
        TlsFindings("W7", ep, tls_result, sw, false, ca_given, report, svc);
        svc.details["answer"] = "TLS, but no DICOM answer over it";
        report.services.push_back(svc);
        return;
      }
    }
  }
  svc.protocol = tls ? "dicom-tls" : "dicom";
  const char* via = with_cert ? " over TLS (with the client certificate given)"
                    : tls     ? " over TLS"
                              : "";
  note_software(a2);
  report.findings.push_back(
      MakeFinding("D1", outside ? Severity::kHigh : Severity::kInfo, ep,
                  std::string("port speaks DICOM") + via +
                      (outside ? " and is reachable from outside the site's networks" : ""),
                  Proposed(rnd_calling, rnd_called, a2), a2.Describe(), sw));

  struct Access {
    std::string calling, called, how;
    AssociationOutcome outcome;
  };
  std::optional<Access> best;
  bool any_accepted = false;
  auto consider = [&](const std::string& calling, const std::string& called,
                      const AssociationOutcome& o, const std::string& how, bool preferred = false) {
    if (o.kind != AssociationOutcome::kAccepted) return;
    any_accepted = true;
    note_software(o);
    auto count = [](const AssociationOutcome& x) { return x.AcceptedNames().size(); };
    // The operator's known AE wins a tie: the server may grant it more than the contexts show.
    if (!best || count(o) > count(best->outcome) || (preferred && count(o) >= count(best->outcome)))
      best = Access{calling, called, how, o};
  };

  // Findings that say "anyone gets data services" (D2, D3, D5, D12): their
  // severity is settled after the data checks, because a server may accept a
  // context and still refuse every operation in it (gated, not open).
  std::vector<std::size_t> access_findings;
  auto access_finding = [&](Finding f) {
    if (f.severity > Severity::kInfo) access_findings.push_back(report.findings.size());
    report.findings.push_back(std::move(f));
  };
  std::string called = options.called_ae;
  bool known_from_wrong_host = false;  // D4: the known AE title is accepted from anywhere
  if (a2.kind == AssociationOutcome::kAccepted) {
    bool data = a2.AcceptsData();
    access_finding(
        MakeFinding("D2", data ? Severity::kHigh : Severity::kInfo, ep,
                    data ? "association accepted with a random called AE title" + std::string(via)
                         : "association with a random called AE title accepted for Verification "
                           "only (gated, see D7)",
                    Proposed(rnd_calling, rnd_called, a2), a2.Describe(), sw));
    consider(rnd_calling, rnd_called, a2, "random calling and called AE titles");
    if (called.empty()) called = rnd_called;
  } else if (a2.kind == AssociationOutcome::kRejected) {
    std::string what =
        IsCalledAeReject(a2.reject) ? "called AE title checked: a random one is rejected"
        : IsCallingAeReject(a2.reject)
            ? "rejected for the calling AE title; the called AE check was not observed"
            : "association rejected";
    report.findings.push_back(MakeFinding(
        "D2", Severity::kInfo, ep, what, Proposed(rnd_calling, rnd_called, a2), a2.Describe(), sw));
    if (called.empty() && IsCalledAeReject(a2.reject)) {
      // Guess the called AE: a reject for another reason means the guess was right.
      for (const auto& guess : kCalledGuesses) {
        AssociationOutcome g =
            s.Open(host.address, port, tls, rnd_calling, guess, Proposal::kVerification);
        s.Release();
        if (g.kind == AssociationOutcome::kAccepted ||
            (g.kind == AssociationOutcome::kRejected && !IsCalledAeReject(g.reject))) {
          called = guess;
          report.findings.push_back(MakeFinding(
              "D5", Severity::kInfo, ep, "called AE title found among vendor defaults: " + guess,
              Proposed(rnd_calling, guess, g), g.Describe(), sw));
          break;
        }
        if (g.kind != AssociationOutcome::kRejected)
          break;  // the server stopped answering (throttled?)
      }
    }
    if (called.empty() && !IsCalledAeReject(a2.reject)) called = rnd_called;
  } else {
    report.findings.push_back(MakeFinding("D2", Severity::kInfo, ep, "association not accepted",
                                          Proposed(rnd_calling, rnd_called, a2), a2.Describe(),
                                          sw));
  }

  // D3: the right called AE, a random calling AE.
  std::optional<AssociationOutcome> a3;
  if (!called.empty()) {
    std::string calling3 = RandomAe("BSCAN");
    if (called == rnd_called && a2.kind == AssociationOutcome::kAccepted) {
      a3 = a2;
      calling3 = rnd_calling;
    } else {
      a3 = s.Open(host.address, port, tls, calling3, called, Proposal::kCapability);
      s.Release();
    }
    if (a3->kind == AssociationOutcome::kAccepted) {
      bool data = a3->AcceptsData();
      access_finding(MakeFinding(
          "D3", data ? Severity::kHigh : Severity::kInfo, ep,
          data ? "association accepted from a random calling AE title" + std::string(via)
               : "random calling AE title accepted for Verification only (gated, see D7)",
          Proposed(calling3, called, *a3), a3->Describe(), sw));
      consider(calling3, called, *a3, "a random calling AE title");
    } else {
      std::string what =
          a3->kind != AssociationOutcome::kRejected ? "association not accepted"
          : IsCallingAeReject(a3->reject) ? "calling AE title checked: a random one is rejected"
          : IsCalledAeReject(a3->reject) ? "rejected for the called AE title " + Printable(called) +
                                               " (give the server's AE title with --ae)"
                                         : "association rejected";
      report.findings.push_back(MakeFinding("D3", Severity::kInfo, ep, what,
                                            Proposed(calling3, called, *a3), a3->Describe(), sw));
    }
  }

  // D5: vendor default calling AE titles, when the calling AE is checked.
  if (a3 && a3->kind == AssociationOutcome::kRejected && IsCallingAeReject(a3->reject)) {
    for (const auto& guess : kCallingGuesses) {
      auto t0 = std::chrono::steady_clock::now();
      AssociationOutcome g = s.Open(host.address, port, tls, guess, called, Proposal::kCapability);
      s.Release();
      // A server that slows down its rejections is rate-limiting guessers:
      // stop, both to be polite and because it has answered the question.
      if (g.kind == AssociationOutcome::kRejected &&
          std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(1000)) {
        report.findings.push_back(MakeFinding(
            "D5", Severity::kInfo, ep,
            "rejections slow down after repeated guesses (the server throttles AE "
            "title guessing); guessing stopped",
            Proposed(guess, called, g), g.Describe() + ", after more than a second", sw));
        break;
      }
      if (g.kind == AssociationOutcome::kAccepted) {
        bool data = g.AcceptsData();
        access_finding(MakeFinding("D5", data ? Severity::kMedium : Severity::kInfo, ep,
                                   "vendor default calling AE title accepted: " + guess,
                                   Proposed(guess, called, g), g.Describe(), sw));
        consider(guess, called, g, "the vendor default calling AE title " + guess);
        break;
      }
      if (&guess == &kCallingGuesses.back())
        report.findings.push_back(MakeFinding(
            "D5", Severity::kInfo, ep,
            "none of " + std::to_string(kCallingGuesses.size()) +
                " vendor default calling AE titles was accepted",
            Proposed(guess, called, g) + " (and likewise " + Join(kCallingGuesses) + ")",
            g.Describe(), sw));
      if (g.kind != AssociationOutcome::kRejected) {
        report.findings.push_back(
            MakeFinding("D5", Severity::kInfo, ep,
                        "the server stopped answering while AE titles were guessed (rate "
                        "limiting or lockout: good)",
                        Proposed(guess, called, g), g.Describe(), sw));
        break;
      }
    }
  }

  // D4: the operator's known calling AE, from our address.
  if (!options.known_ae.empty() && !called.empty()) {
    AssociationOutcome k =
        s.Open(host.address, port, tls, options.known_ae, called, Proposal::kCapability);
    s.Release();
    consider(options.known_ae, called, k, "the known calling AE title " + options.known_ae, true);
    std::string from = k.local_address.empty() ? "this scanner's address" : k.local_address;
    auto registered = IpRange::Parse(options.known_ae_host);
    auto ours = IpAddress::Parse(k.local_address);
    bool elsewhere =
        registered && ours && !(registered->base.v6 == ours->v6 && registered->Contains(*ours));
    if (k.kind == AssociationOutcome::kAccepted && elsewhere) {
      known_from_wrong_host = true;
      report.findings.push_back(
          MakeFinding("D4", Severity::kMedium, ep,
                      "known AE title " + Printable(options.known_ae) + " registered for " +
                          Printable(options.known_ae_host) + " was accepted from " + from,
                      Proposed(options.known_ae, called, k), k.Describe(), sw));
    } else {
      report.findings.push_back(MakeFinding(
          "D4", Severity::kInfo, ep,
          k.kind == AssociationOutcome::kAccepted
              ? "known AE title " + Printable(options.known_ae) + " accepted from " + from +
                    (options.known_ae_host.empty() ? " (give AE@HOST to check the host binding)"
                                                   : "")
              : "known AE title " + Printable(options.known_ae) + " not accepted from " + from,
          Proposed(options.known_ae, called, k), k.Describe(), sw));
    }
  }

  // D14: what the server says it is.
  if (sw.known() || any_accepted) {
    auto vulns = VulnerabilitiesFor(sw);
    if (vulns.empty()) {
      report.findings.push_back(
          MakeFinding("D14", Severity::kInfo, ep, "software: " + sw.ToString(),
                      "A-ASSOCIATE-RQ (implementation class UID and version name are read from "
                      "the A-ASSOCIATE-AC)",
                      sw.evidence, sw));
    } else {
      double worst = 0;
      std::string list;
      Finding f = MakeFinding("D14", Severity::kInfo, ep, "", "A-ASSOCIATE-RQ", sw.evidence, sw);
      for (const auto& v : vulns) {
        worst = std::max(worst, v.cvss);
        f.cves.push_back(std::string(v.cve));
        list += (list.empty() ? "" : "; ") + std::string(v.cve) + " (CVSS " +
                std::to_string(v.cvss).substr(0, 3) + ", fixed in " + std::string(v.fixed_in) +
                "): " + std::string(v.summary);
      }
      f.severity = SeverityForCvss(worst);
      f.title =
          sw.ToString() + " is in the affected range of " + std::to_string(vulns.size()) +
          " published vulnerabilities (by version; a backported fix does not change the version)";
      f.received = sw.evidence + ". " + list;
      report.findings.push_back(std::move(f));
    }
  }
  svc.software = sw;
  svc.called_ae = called;

  if (!best) {
    // Nothing admitted us.
    if (!tls)
      report.findings.push_back(
          MakeFinding("D13", Severity::kInfo, ep,
                      "plain DICOM (no TLS) on this port, but no association was admitted",
                      "the associations above", "see D2/D3", sw));
    else if (!tls_reported)
      TlsFindings("D13", ep, tls_result, sw, true, ca_given, report, svc);
    report.services.push_back(svc);
    return;
  }

  // What the data checks prove depends on who ran them: a stranger (a random
  // or guessed AE title, or the known one from an address it is not
  // registered for) getting data is a leak; the operator's registered node
  // getting what it is registered for is the server doing its job.
  const bool as_known = !options.known_ae.empty() && best->calling == options.known_ae;
  const bool stranger = !as_known || known_from_wrong_host;
  auto for_stranger = [&](Severity sev) { return stranger ? sev : Severity::kInfo; };
  const std::string as_note = stranger
                                  ? ""
                                  : " (as the registered AE title " + Printable(options.known_ae) +
                                        ": what a registered node may do, not a leak)";

  // D6: capability map of the widest access.
  svc.accepted_services = best->outcome.AcceptedNames();
  report.findings.push_back(MakeFinding(
      "D6", Severity::kInfo, ep, "accepted for " + best->how + ": " + Join(svc.accepted_services),
      Proposed(best->calling, best->called, best->outcome), best->outcome.Describe(), sw));
  const bool data = best->outcome.AcceptsData();
  if (!data) {
    report.findings.push_back(MakeFinding(
        "D7", Severity::kInfo, ep,
        "gated: only Verification (C-ECHO) is accepted; every data service was refused",
        Proposed(best->calling, best->called, best->outcome), best->outcome.Describe(), sw));
  }

  // D13: what travels in clear text.
  if (!tls) {
    Severity sev = data ? (loopback ? Severity::kLow : Severity::kHigh) : Severity::kInfo;
    access_finding(MakeFinding(
        "D13", sev, ep,
        data ? std::string("plain DICOM (no TLS) admits data services: PHI crosses the network in "
                           "clear text") +
                   (loopback ? " (loopback target: the traffic stays on this host)" : "")
             : "plain DICOM (no TLS), Verification only",
        Proposed(best->calling, best->called, best->outcome), best->outcome.Describe(), sw));
  } else if (!tls_reported) {
    TlsFindings("D13", ep, tls_result, sw, true, ca_given, report, svc);
  }
  if (!data) {
    report.services.push_back(svc);
    return;
  }

  // D12: a wrong passcode.
  {
    Identity wrong{"bastion-scan", RandomAe("wrong-")};
    AssociationOutcome o =
        s.Open(host.address, port, tls, best->calling, best->called, Proposal::kCapability, &wrong);
    s.Release();
    std::string sent = Proposed(
        best->calling, best->called, o,
        ", User Identity username+passcode (a wrong passcode), positive response requested");
    if (with_cert) {
      report.findings.push_back(
          MakeFinding("D12", Severity::kInfo, ep,
                      "identity is established by the client certificate the server required", sent,
                      o.Describe(), sw));
    } else if (!stranger) {
      report.findings.push_back(MakeFinding(
          "D12", Severity::kInfo, ep,
          "the registered AE title is admitted on its AE title and address; User Identity is not "
          "checked" +
              std::string(o.kind == AssociationOutcome::kAccepted ? "" : " (not accepted)"),
          sent, o.Describe(), sw));
    } else if (o.kind == AssociationOutcome::kAccepted && o.AcceptsData()) {
      std::string title =
          "accepted with a wrong passcode (and without any User Identity): DICOM identity is not "
          "checked";
      if (o.identity_acknowledged && !tls)
        title += "; the server even acknowledged the passcode over plain TCP";
      access_finding(MakeFinding("D12", Severity::kHigh, ep, title, sent, o.Describe(), sw));
    } else {
      report.findings.push_back(MakeFinding(
          "D12", Severity::kInfo, ep, "a wrong passcode was not accepted", sent, o.Describe(), sw));
    }
  }

  // The data checks, each in an association of its own: a server that
  // refuses an operation often aborts the association with it.
  bool data_flowed = false;   // an operation handed over or took data
  bool op_refused = false;    // an operation was tried and refused
  bool storage_open = false;  // storage contexts accepted, store not tried
  auto open_best = [&](Proposal proposal) {
    return s.Open(host.address, port, tls, best->calling, best->called, proposal);
  };
  const AssociationOutcome& caps = best->outcome;

  // D8 / D15: wildcard queries, counted.
  std::string study = options.canary_study;
  std::string first_study;
  const bool canary = !study.empty();
  for (bool study_level : {false, true}) {
    if (!caps.Accepts(study_level ? "Study Root FIND" : "Patient Root FIND")) continue;
    AssociationOutcome o = open_best(Proposal::kCapability);
    if (o.kind != AssociationOutcome::kAccepted) continue;
    FindOutcome f = s.FindAll(study_level, study_level ? &first_study : nullptr);
    s.Release();
    const char* level = study_level ? "STUDY (Study Root)" : "PATIENT (Patient Root)";
    std::string sent = std::string("C-FIND-RQ ") + level +
                       ", PatientName=* with empty return keys, as " + Printable(best->calling);
    std::string received =
        std::to_string(f.answers) + " pending answers" +
        (f.filled.empty() ? "" : "; attributes returned filled: " + Join(f.filled)) +
        (f.error.empty() ? "; final status " + DescribeDimseStatus(f.final_status)
                         : "; no final status: " + f.error) +
        (f.cancelled
             ? "; cancelled by the scanner after " + std::to_string(options.max_find_results)
             : "") +
        ". Values were neither kept nor printed.";
    if (f.answers > 0) {
      data_flowed = true;
      report.findings.push_back(MakeFinding("D8", for_stranger(Severity::kCritical), ep,
                                            "wildcard C-FIND at " + std::string(level) +
                                                " returned " + std::to_string(f.answers) +
                                                (study_level ? " studies" : " patients") + as_note,
                                            sent, received, sw));
      if (f.cancelled || (f.error.empty() && f.final_status == 0))
        report.findings.push_back(MakeFinding(
            "D15", Severity::kLow, ep,
            std::string("the whole wildcard result was answered (") + std::to_string(f.answers) +
                (f.cancelled ? "+" : "") + " answers, no limit applied)",
            sent, received, sw));
    } else {
      bool refused =
          !f.error.empty() || (f.final_status != 0 && (f.final_status & 0xF000) != 0xB000);
      op_refused |= refused;
      report.findings.push_back(
          MakeFinding("D8", Severity::kInfo, ep,
                      refused ? std::string("wildcard C-FIND at ") + level + " was refused"
                              : std::string("wildcard C-FIND at ") + level +
                                    " is allowed but matched nothing (an empty archive?)",
                      sent, received, sw));
    }
  }
  if (study.empty()) study = first_study;
  const std::string study_note =
      canary ? "the canary study given with --canary"
             : "the first study of the C-FIND answer (its UID is held in memory only)";

  // D10: C-MOVE to our own SCP under an AE title nobody registered.
  if (caps.Accepts("MOVE")) {
    if (study.empty()) {
      report.findings.push_back(MakeFinding(
          "D10", Severity::kInfo, ep,
          "C-MOVE context accepted, but no study is known to test it (give --canary)", "", "", sw));
    } else if (AssociationOutcome o = open_best(Proposal::kCapability);
               o.kind == AssociationOutcome::kAccepted) {
      std::uint16_t move_port = 0;
      std::string err;
      int fd = ListenForMove(o.local_address, options.move_port, &move_port, &err);
      if (fd < 0) {
        report.errors.push_back(ep + ": C-MOVE check skipped: " + err);
      } else {
        RetrieveOutcome m = s.MoveStudy(study, options.move_ae, fd);
        ::close(fd);
        std::string sent = "C-MOVE-RQ STUDY level of " + study_note + " to move destination " +
                           options.move_ae + " (the scanner's own SCP on " +
                           EndpointName(o.local_address, move_port) + ")";
        std::string received =
            (m.connected_back
                 ? "the server connected to the scanner's SCP (" + m.connect_back_from +
                       ") and sent " + std::to_string(m.instances_received) +
                       " instances (discarded unread); "
                 : "no connection to the scanner's SCP; ") +
            (m.error.empty() ? "final status " + DescribeDimseStatus(m.final_status) + ", " +
                                   std::to_string(m.completed) + " completed, " +
                                   std::to_string(m.failed) + " failed"
                             : "no final status: " + m.error);
        Severity sev = !stranger                                      ? Severity::kInfo
                       : m.connected_back && m.instances_received > 0 ? Severity::kCritical
                       : m.connected_back                             ? Severity::kHigh
                                                                      : Severity::kInfo;
        if (m.connected_back)
          data_flowed = true;
        else
          op_refused = true;
        report.findings.push_back(MakeFinding(
            "D10", sev, ep,
            (m.connected_back ? (stranger ? "C-MOVE sent images to a destination chosen by an "
                                            "unauthenticated requester"
                                          : "C-MOVE sent images to the scanner's destination")
                              : "C-MOVE to the scanner's destination was not carried out") +
                as_note,
            sent, received, sw));
      }
    }
    s.Release();
  }

  // D11: store, only with --allow-write.
  if (caps.Accepts("Secondary Capture")) {
    if (!options.allow_write) {
      storage_open = true;
      report.findings.push_back(
          MakeFinding("D11", Severity::kInfo, ep,
                      "storage contexts are accepted; C-STORE not tried (needs --allow-write)",
                      Proposed(best->calling, best->called, caps), caps.Describe(), sw));
    } else if (AssociationOutcome o = open_best(Proposal::kCapability);
               o.kind == AssociationOutcome::kAccepted) {
      StoreOutcome st = s.StoreSynthetic();
      std::string sent =
          "C-STORE-RQ of a synthetic Secondary Capture instance (patient BASTION^SCAN^SYNTHETIC, "
          "8x8 pixels) as " +
          Printable(best->calling);
      bool stored = st.error.empty() && (st.status == 0 || (st.status & 0xF000) == 0xB000);
      if (stored)
        data_flowed = true;
      else
        op_refused = true;
      report.findings.push_back(MakeFinding(
          "D11", stored ? for_stranger(Severity::kHigh) : Severity::kInfo, ep,
          (stored ? (stranger ? "the server stored an instance from an unauthenticated peer"
                              : "the server stored the synthetic instance")
                  : "C-STORE was refused") +
              as_note,
          sent,
          st.error.empty() ? "C-STORE-RSP " + DescribeDimseStatus(st.status)
                           : "no response: " + st.error,
          sw));
    }
    s.Release();
  }

  // D9: C-GET, with storage classes offered in the SCP role.
  if (caps.Accepts("GET")) {
    if (study.empty()) {
      report.findings.push_back(MakeFinding(
          "D9", Severity::kInfo, ep,
          "C-GET context accepted, but no study is known to test it (give --canary)", "", "", sw));
    } else if (AssociationOutcome g = open_best(Proposal::kRetrieve);
               g.kind == AssociationOutcome::kAccepted && g.Accepts("GET")) {
      RetrieveOutcome r = s.GetStudy(study);
      std::string sent =
          "C-GET-RQ STUDY level of " + study_note + " as " + Printable(best->calling);
      std::string received =
          std::to_string(r.instances_received) + " instances received (discarded unread); " +
          (r.error.empty() ? "final status " + DescribeDimseStatus(r.final_status)
                           : "no final status: " + r.error);
      if (r.instances_received > 0)
        data_flowed = true;
      else
        op_refused = true;
      report.findings.push_back(MakeFinding(
          "D9", r.instances_received > 0 ? for_stranger(Severity::kCritical) : Severity::kInfo, ep,
          (r.instances_received > 0
               ? "C-GET handed over " + std::to_string(r.instances_received) + " instances"
               : std::string("C-GET returned no instances")) +
              as_note,
          sent, received, sw));
    }
    s.Release();
  }

  // Settle the access findings: contexts accepted but every operation refused is gated.
  if (!data_flowed && !storage_open && op_refused) {
    for (std::size_t i : access_findings) {
      Finding& f = report.findings[i];
      f.severity = Severity::kInfo;
      f.title += " - but every operation tried was refused (gated at the operation level)";
    }
    bool untested = (caps.Accepts("MOVE") || caps.Accepts("GET")) && study.empty();
    report.findings.push_back(MakeFinding(
        "D7", Severity::kInfo, ep,
        std::string("gated: data services are negotiated, but every operation tried "
                    "was refused") +
            (untested ? " (C-MOVE/C-GET not tried: no study known; give --canary)" : ""),
        "the C-FIND, C-MOVE, C-GET and C-STORE requests of D8-D11", "refusals (see D8-D11)", sw));
  }
  report.services.push_back(svc);
}

Report Run(const Options& options) {
  Report report;
  report.started = UtcTimestampNow();
  report.targets = options.targets;
  report.ports = options.ports;
  report.web = options.web;
  report.allow_write = options.allow_write;
  Pacer pacer(options.rate);
  if (!options.targets.empty()) {
    auto hosts = ExpandTargets(options.targets, options.max_addresses);
    if (!hosts.ok()) {
      report.errors.push_back(hosts.status().ToString());
    } else {
      for (const auto& h : *hosts)
        for (auto port : options.ports) ScanDicomEndpoint(options, pacer, h, port, report);
    }
  }
  for (const auto& url : options.web) ScanWeb(options, pacer, url, report);
  // A scheduled scan of a server that is down must not look clean.
  bool answered = false;
  for (const auto& s : report.services)
    answered |= s.protocol != "closed" && s.protocol != "filtered";
  if (!answered && (!options.targets.empty() || !options.web.empty()) && report.errors.empty())
    report.errors.push_back("nothing answered on the ports and URLs given: nothing was checked");
  report.connections = pacer.connections();
  report.finished = UtcTimestampNow();
  report.Sort();
  return report;
}

}  // namespace bastion::scan
