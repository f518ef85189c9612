// `bastion scan --self`: Bastion's own configuration, checked from the inside
// (S1-S5). The CLI reads bastion.toml, nodes.json and the certificates and
// hands them over as plain data; scan/ never reads security/ itself.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "scan/knowledge.h"
#include "scan/scan.h"
#include "util/net.h"

namespace bastion::scan {
namespace {

bool EndpointIsLoopback(const std::string& endpoint) {
  auto ep = Endpoint::Parse(endpoint);
  return ep.ok() && ep->address.IsLoopback();
}

// The limits S5 holds the web front end's settings to (the `bastion init`
// defaults meet them). HIPAA names no number for automatic logoff; 15 minutes
// is the figure the 164.312(a)(2)(iii) guidance and most hospital policies use.
constexpr std::int64_t kMaxSessionIdleSeconds = 15 * 60;
constexpr std::int64_t kMaxSessionSeconds = 12 * 3600;

constexpr std::string_view kAutomaticLogoff = "45 CFR 164.312(a)(2)(iii) Automatic logoff";
constexpr std::string_view kTransmissionSecurity = "45 CFR 164.312(e)(1) Transmission security";

// "15 minutes", "12 hours", "365 days": the largest whole unit.
std::string Duration(std::int64_t seconds) {
  auto unit = [](std::int64_t n, const char* name) {
    return std::to_string(n) + " " + name + (n == 1 ? "" : "s");
  };
  if (seconds >= 86400 && seconds % 86400 == 0) return unit(seconds / 86400, "day");
  if (seconds >= 3600 && seconds % 3600 == 0) return unit(seconds / 3600, "hour");
  if (seconds >= 60 && seconds % 60 == 0) return unit(seconds / 60, "minute");
  return unit(seconds, "second");
}

// S5: the web front end's listeners, session lifetimes and HSTS.
void CheckWeb(const SelfState& state, const std::string& target, const Software& bastion,
              std::vector<Finding>& out) {
  const SelfWeb& w = state.web;
  const std::string sent = "read " + state.data_dir + "/bastion.toml";
  auto add = [&](Severity sev, std::string title, std::string received, std::string_view hipaa,
                 std::string_view fix) {
    Finding f =
        MakeFinding("S5", sev, target, std::move(title), sent, std::move(received), bastion);
    if (!hipaa.empty()) f.hipaa = std::string(hipaa);
    if (!fix.empty())
      f.fix = "Bastion: " + std::string(fix) + " " + std::string(FindCheck("S5")->fix);
    out.push_back(std::move(f));
  };
  if (w.https_listen.empty() && w.http_listen.empty()) {
    add(Severity::kInfo, "the web front end is off", "[web] https_listen = [], http_listen = []",
        "", "");
    return;
  }
  for (const auto& ep : w.https_listen)
    add(Severity::kInfo,
        "HTTPS (web UI, viewer, DICOMweb) listens on " + ep +
            (EndpointIsLoopback(ep) ? " (loopback only)" : ""),
        "[web] https_listen = " + ep, kTransmissionSecurity, "");
  for (const auto& ep : w.http_listen) {
    if (EndpointIsLoopback(ep))
      add(Severity::kInfo,
          "plain HTTP listens on " + ep + " (loopback only: for a reverse proxy on this host)",
          "[web] http_listen = " + ep, kTransmissionSecurity, "");
    else
      add(Severity::kHigh,
          "plain HTTP listens on " + ep +
              ": logins, session cookies and PHI would cross the network in clear text "
              "(`bastion serve` refuses to start like this)",
          "[web] http_listen = " + ep, kTransmissionSecurity,
          "keep [web] http_listen on loopback (\"127.0.0.1:8080\") for a reverse proxy on this "
          "host that does TLS, or remove it and use https_listen.");
  }

  const std::string idle = "[web] session_idle_seconds = " + std::to_string(w.session_idle_seconds);
  const std::string max = "[web] session_max_seconds = " + std::to_string(w.session_max_seconds);
  if (w.session_idle_seconds > kMaxSessionIdleSeconds)
    add(Severity::kMedium,
        "automatic logoff only after " + Duration(w.session_idle_seconds) +
            " idle (more than 15 minutes): a signed-in browser left unattended stays open to "
            "whoever sits down at it",
        idle, kAutomaticLogoff,
        "set [web] session_idle_seconds = 900 (or less) in bastion.toml and restart; the web UI "
        "keeps an active person's session alive, so a short idle timeout costs nobody working.");
  if (w.session_max_seconds > kMaxSessionSeconds)
    add(Severity::kLow,
        "a session lasts up to " + Duration(w.session_max_seconds) +
            " however active (more than 12 hours): a stolen session cookie stays useful that long",
        max, kAutomaticLogoff,
        "set [web] session_max_seconds = 43200 (or less) in bastion.toml and restart.");
  if (w.session_idle_seconds <= kMaxSessionIdleSeconds &&
      w.session_max_seconds <= kMaxSessionSeconds)
    add(Severity::kInfo,
        "automatic logoff after " + Duration(w.session_idle_seconds) +
            " idle; a session ends after " + Duration(w.session_max_seconds) + " however active",
        idle + ", " + max, kAutomaticLogoff, "");

  // Bastion sends Strict-Transport-Security on its HTTPS listeners only; behind
  // a proxy (http_listen alone) the proxy's header is what browsers see.
  if (w.https_listen.empty()) return;
  const std::string hsts = "[web] hsts_max_age = " + std::to_string(w.hsts_max_age);
  if (w.hsts_max_age <= 0)
    add(Severity::kMedium,
        "Strict-Transport-Security is off: a browser that is sent to http:// can be kept on "
        "plain HTTP by anyone on the network path, and its login with it",
        hsts, kTransmissionSecurity,
        "set [web] hsts_max_age = 31536000 (one year) in bastion.toml and restart.");
  else if (w.hsts_max_age < kMinHstsMaxAgeSeconds)
    add(Severity::kLow,
        "Strict-Transport-Security lasts only " + Duration(w.hsts_max_age) +
            " (less than 180 days): browsers forget it between visits",
        hsts, kTransmissionSecurity,
        "set [web] hsts_max_age = 31536000 (one year) in bastion.toml and restart.");
  else
    add(Severity::kInfo, "Strict-Transport-Security for " + Duration(w.hsts_max_age), hsts,
        kTransmissionSecurity, "");
}

}  // namespace

std::vector<Finding> CheckSelf(const SelfState& state) {
  std::vector<Finding> out;
  const Software bastion{"Bastion", "", "its own configuration"};
  const std::string target = "self:" + state.data_dir;
  bool plain_off_loopback = false;
  for (const auto& l : state.listeners) {
    bool loop = EndpointIsLoopback(l.endpoint);
    if (!l.tls && !loop) plain_off_loopback = true;
    out.push_back(MakeFinding(
        "S1", !l.tls && !loop ? Severity::kMedium : Severity::kInfo, target,
        std::string(l.tls ? "DICOM TLS" : "plain DICOM") + " listens on " + l.endpoint +
            (l.tls  ? " (client certificates required)"
             : loop ? " (loopback only)"
                    : ": reachable off this host without TLS"),
        "read " + state.data_dir + "/bastion.toml",
        "[dicom] " + std::string(l.tls ? "tls_listen" : "plain_listen") + " = " + l.endpoint,
        bastion));
  }
  for (const auto& n : state.nodes) {
    std::string hosts;
    bool any_range = false, everywhere = false;
    for (const auto& h : n.hosts) {
      hosts += (hosts.empty() ? "" : ",") + h;
      auto r = IpRange::Parse(h);
      if (r && !r->IsSingleAddress()) any_range = true;
      if (r && r->prefix == 0) everywhere = true;
    }
    std::string allow;
    for (const auto& a : n.allow) allow += (allow.empty() ? "" : ",") + a;
    std::string desc = "node " + n.ae_title + " hosts " + hosts + " allow " + allow +
                       (n.tls_only ? " tls-only" : "") + (n.pinned ? " pinned" : "");
    if (!n.tls_only) {
      Severity sev = plain_off_loopback ? Severity::kHigh : Severity::kLow;
      out.push_back(
          MakeFinding("S2", sev, target,
                      "node " + n.ae_title + " may use plain TCP" +
                          (plain_off_loopback ? " and the plain port is reachable off this host"
                                              : " (the plain port is on loopback)"),
                      "read " + state.data_dir + "/nodes.json", desc, bastion));
    }
    bool reads = false;
    for (const auto& a : n.allow) reads |= a == "find" || a == "get" || a == "move";
    if (everywhere || (any_range && reads) || n.allow.size() >= 5) {
      Severity sev =
          everywhere ? (n.tls_only ? Severity::kMedium : Severity::kHigh) : Severity::kMedium;
      out.push_back(
          MakeFinding("S3", sev, target,
                      "node " + n.ae_title + (everywhere ? " is admitted from every address" : "") +
                          (any_range && !everywhere ? " is admitted from a whole range" : "") +
                          (n.allow.size() >= 5 ? " with every service" : "") +
                          (reads ? " and may read PHI" : ""),
                      "read " + state.data_dir + "/nodes.json", desc, bastion));
    }
  }
  for (const auto& c : state.certificates) {
    if (!c.error.empty()) {
      out.push_back(MakeFinding("S4", Severity::kHigh, target, c.what + " unreadable: " + c.error,
                                "read " + c.path, c.error, bastion));
      continue;
    }
    std::int64_t days = (c.not_after - state.now) / 86400;
    Severity sev = c.not_after < state.now ? Severity::kHigh
                   : days < 30             ? Severity::kMedium
                                           : Severity::kInfo;
    out.push_back(MakeFinding(
        "S4", sev, target,
        c.what + (c.not_after < state.now ? " expired " + std::to_string(-days) + " days ago"
                                          : " valid for " + std::to_string(days) + " more days"),
        "read " + c.path, "notAfter " + std::to_string(c.not_after), bastion));
    // Bastion presents its own certificate when it connects to a TLS-only
    // node (a destination that may receive, or a modality's listener for
    // Storage Commitment reports); a peer checking the purpose refuses one
    // without clientAuth (what `bastion init` issued before 2026-11-22).
    if (c.what == "server certificate" && !c.client_auth) {
      auto allows = [](const SelfNode& n, const char* what) {
        return std::find(n.allow.begin(), n.allow.end(), what) != n.allow.end();
      };
      std::string destinations;
      for (const auto& n : state.nodes)
        if (n.tls_only && (allows(n, "receive") || (allows(n, "store") && n.listens)))
          destinations += (destinations.empty() ? "" : ", ") + n.ae_title;
      if (!destinations.empty())
        out.push_back(MakeFinding("S4", Severity::kMedium, target,
                                  c.what + " is not valid for TLS clients (no clientAuth): C-MOVE, `bastion send` "
                                           "and Storage Commitment reports to " + destinations +
                                           " fail in the TLS handshake",
                                  "read " + c.path, "extendedKeyUsage without clientAuth", bastion));
    }
  }
  CheckWeb(state, target, bastion, out);
  return out;
}

}  // namespace bastion::scan
