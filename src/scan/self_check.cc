// `bastion scan --self`: Bastion's own configuration, checked from the inside
// (S1-S4). The CLI reads bastion.toml, nodes.json and the certificates and
// hands them over as plain data; scan/ never reads security/ itself.
#include <string>

#include "scan/knowledge.h"
#include "scan/scan.h"
#include "util/net.h"

namespace bastion::scan {
namespace {

bool EndpointIsLoopback(const std::string& endpoint) {
  auto ep = Endpoint::Parse(endpoint);
  return ep.ok() && ep->address.IsLoopback();
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
  }
  return out;
}

}  // namespace bastion::scan
