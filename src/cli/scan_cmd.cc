// `bastion scan`: the exposure scanner's command. Parsing of the options is in
// main.cc; the checks are in scan/. For --self this file reads Bastion's own
// configuration, node registry and certificates (security/ is the CLI's to
// use, not the scanner's) and hands them to scan/ as plain data, scans its
// own listeners from the outside and saves the report for the web UI.
#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "scan/scan.h"
#include "security/nodes.h"
#include "security/pki.h"
#include "util/config.h"
#include "util/fs.h"
#include "util/net.h"
#include "util/text.h"

namespace bastion::cli {
namespace {

Status SelfState(const std::filesystem::path& data, scan::SelfState& state, Config& config) {
  auto loaded = LoadConfig(data);
  if (!loaded.ok()) return loaded.status();
  config = *loaded;
  state.data_dir = data.string();
  state.ae_title = config.dicom.ae_title;
  state.now = static_cast<std::int64_t>(std::time(nullptr));
  for (const auto& ep : config.dicom.tls_listen) state.listeners.push_back({ep.ToString(), true});
  for (const auto& ep : config.dicom.plain_listen)
    state.listeners.push_back({ep.ToString(), false});
  state.web.https_listen.clear();
  for (const auto& ep : config.web.https_listen) state.web.https_listen.push_back(ep.ToString());
  for (const auto& ep : config.web.http_listen) state.web.http_listen.push_back(ep.ToString());
  state.web.session_idle_seconds = config.web.session_idle_seconds;
  state.web.session_max_seconds = config.web.session_max_seconds;
  state.web.hsts_max_age = config.web.hsts_max_age;
  auto nodes = security::LoadNodes(security::NodesPath(data));
  if (!nodes.ok()) return nodes.status();
  for (const auto& n : *nodes) {
    scan::SelfNode s;
    s.ae_title = n.ae_title;
    for (const auto& h : n.hosts) s.hosts.push_back(h.ToString());
    std::string perms = n.permissions.ToString();  // "echo,store"
    std::stringstream ss(perms);
    for (std::string item; std::getline(ss, item, ',');)
      if (!item.empty()) s.allow.push_back(item);
    s.tls_only = n.tls_only || !n.tls_cert_sha256.empty();
    s.listens = n.port != 0;
    s.pinned = !n.tls_cert_sha256.empty();
    state.nodes.push_back(std::move(s));
  }
  for (const auto& [what, path] :
       {std::pair<std::string, std::filesystem::path>{"server certificate", config.tls.certificate},
        {"client CA certificate", config.tls.client_ca}}) {
    scan::SelfCertificate c;
    c.what = what;
    c.path = path.string();
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    auto info = security::ReadCertificateInfo(text.str());
    if (!in || !info.ok()) {
      c.error = info.ok() ? "cannot read the file" : info.status().message();
    } else {
      c.not_after = info->not_after;
      c.client_auth = info->client_auth;
    }
    state.certificates.push_back(c);
  }
  return Status::Ok();
}

// The address to reach our own listener at: a wildcard bind is reached over loopback.
std::string OwnAddress(const Endpoint& ep) {
  if (!ep.address.IsUnspecified()) return ep.address.ToString();
  return ep.address.v6 ? "::1" : "127.0.0.1";
}

// The CA our own certificates chain to, so that the TLS checks judge our
// server certificate instead of calling the local CA "untrusted": --ca when
// given, else [tls] client_ca, else DIR/tls/ca.pem (what `bastion init` made).
std::string OwnTrustAnchor(const std::string& given, const Config& config,
                           const std::filesystem::path& data) {
  if (!given.empty()) return given;
  std::error_code ec;
  for (const auto& p : {config.tls.client_ca, data / "tls" / "ca.pem"})
    if (!p.empty() && std::filesystem::is_regular_file(p, ec)) return p.string();
  return "";
}

void Merge(scan::Report& into, scan::Report&& r) {
  into.connections += r.connections;
  for (auto& x : r.services) into.services.push_back(std::move(x));
  for (auto& x : r.findings) into.findings.push_back(std::move(x));
  for (auto& x : r.errors) into.errors.push_back(std::move(x));
}

// Each of our own listeners, scanned from the outside as a peer would see it:
// the DICOM checks on every DICOM listener, the web checks on every HTTPS one.
// Only our own addresses (loopback for a wildcard bind) are ever aimed at.
void ScanOwnListeners(const scan::Options& o, const scan::SelfState& state, const Config& config,
                      const std::filesystem::path& data, scan::Report& report) {
  scan::Options own = o;
  own.targets.clear();
  own.web.clear();
  own.ca_file = OwnTrustAnchor(o.ca_file, config, data);
  for (const auto& l : state.listeners) {
    auto ep = Endpoint::Parse(l.endpoint);
    if (!ep.ok()) continue;
    scan::Options dicom = own;
    std::string address = OwnAddress(*ep);
    dicom.targets = {address};
    dicom.ports = {ep->port};
    dicom.called_ae = config.dicom.ae_title;
    report.targets.push_back(address + ":" + std::to_string(ep->port) + " (self)");
    Merge(report, scan::Run(dicom));
  }
  for (const auto& listen : state.web.https_listen) {
    auto ep = Endpoint::Parse(listen);
    if (!ep.ok()) continue;
    std::string address = OwnAddress(*ep);
    std::string host = address.find(':') != std::string::npos ? "[" + address + "]" : address;
    scan::Options web = own;
    web.web = {"https://" + host + ":" + std::to_string(ep->port)};
    report.web.push_back(web.web[0]);
    Merge(report, scan::Run(web));
  }
}

// DIR/self-scan/latest.json: the JSON report of the last `--self` run, for
// the web UI's "Self-scan" page. Replaced atomically, readable by the owner
// only (it describes the server's weak spots).
Status SaveSelfScan(const std::filesystem::path& data, const std::string& json) {
  const std::filesystem::path dir = data / "self-scan";
  std::error_code ec;
  if (!std::filesystem::is_directory(data, ec))
    return Status(Code::kNotFound, data.string() + " is not a directory");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return ErrnoStatus("mkdir " + dir.string());
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return ErrnoStatus("stat " + dir.string());
  if (!S_ISDIR(st.st_mode))
    return Status(Code::kIo, dir.string() + " exists and is not a directory");
  if ((st.st_mode & 07777) != 0700 && ::chmod(dir.c_str(), 0700) != 0)
    return ErrnoStatus("chmod 0700 " + dir.string());
  return WriteFileAtomic(dir / "latest.json", json, 0600);
}

}  // namespace

namespace {

int Emit(const std::string& text, const std::string& out_path) {
  if (out_path.empty()) {
    std::cout << text;
    return 0;
  }
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::cerr << "error: cannot write " << out_path << "\n";
    return scan::kExitScanError;
  }
  return 0;
}

int CompareReports(const ScanArgs& args) {
  std::string text[2];
  for (int i = 0; i < 2; ++i) {
    std::ifstream in(args.compare[i], std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    if (!in) {
      std::cerr << "error: cannot read " << args.compare[i] << "\n";
      return scan::kExitUsage;
    }
    text[i] = s.str();
  }
  int exit_code = 0;
  auto name = [](const std::string& p) { return std::filesystem::path(p).filename().string(); };
  auto table = scan::Compare(text[0], text[1], name(args.compare[0]), name(args.compare[1]),
                             args.format == "json", &exit_code);
  if (!table.ok()) {
    std::cerr << "error: " << table.status().message() << "\n";
    return scan::kExitUsage;
  }
  int rc = Emit(*table, args.out);
  return rc != 0 ? rc : exit_code;
}

}  // namespace

int Scan(const ScanArgs& args) {
  // Servers hang up mid-handshake; a write to a closed socket must be an
  // error the scanner reports, not a SIGPIPE that ends it without a report.
  std::signal(SIGPIPE, SIG_IGN);
  if (!args.compare.empty()) return CompareReports(args);
  scan::Options o;
  o.targets = args.targets;
  o.web = args.web;
  o.called_ae = args.ae;
  auto at = args.known_ae.find('@');
  o.known_ae = args.known_ae.substr(0, at);
  if (at != std::string::npos) o.known_ae_host = args.known_ae.substr(at + 1);
  if (!o.known_ae_host.empty() && !IpRange::Parse(o.known_ae_host)) {
    std::cerr << "error: --known-ae AE@HOST wants an address or range after @ (no host names)\n";
    return scan::kExitUsage;
  }
  o.canary_study = args.canary;
  o.allow_write = args.allow_write;
  o.max_addresses = args.max_hosts;
  o.rate = args.rate;
  o.acse_timeout_seconds = args.timeout;
  o.connect_timeout_seconds = std::min(args.timeout, 3);  // a silent address costs little
  o.dimse_timeout_seconds = std::max(args.timeout, 30);
  o.move_ae = args.move_ae;
  o.move_port = args.move_port;
  o.ca_file = args.ca;
  o.tls_certificate = args.tls_cert;
  o.tls_private_key = args.tls_key;
  if (args.tls_cert.empty() != args.tls_key.empty()) {
    std::cerr << "error: --tls-cert and --tls-key go together\n";
    return scan::kExitUsage;
  }
  auto format = scan::ParseFormat(args.format);
  if (!format) {
    std::cerr << "error: --format must be text, json, html or sarif\n";
    return scan::kExitUsage;
  }
  if (!args.ports.empty()) {
    auto ports = scan::ParsePorts(args.ports);
    if (!ports.ok()) {
      std::cerr << "error: --ports: " << ports.status().message() << "\n";
      return scan::kExitUsage;
    }
    o.ports = *ports;
  }
  if (args.rate <= 0 || args.rate > 100) {
    std::cerr << "error: --rate must be between 0 and 100 connections per second\n";
    return scan::kExitUsage;
  }
  if (!args.targets.empty()) {
    // Refuse an over-wide scope before anything is sent.
    auto hosts = scan::ExpandTargets(args.targets, args.max_hosts);
    // A name that does not resolve is a failed scan (exit 1, in the report), not a usage error.
    if (!hosts.ok() && hosts.status().code() != Code::kNotFound) {
      std::cerr << "error: " << hosts.status().message() << "\n";
      return scan::kExitUsage;
    }
  }
  if (!args.self && args.targets.empty() && args.web.empty()) {
    std::cerr << "error: give a TARGET, --web URL or --self --data DIR\n";
    return scan::kExitUsage;
  }
  if (args.self && args.data.empty()) {
    std::cerr << "error: --self needs --data DIR\n";
    return scan::kExitUsage;
  }

  scan::Report report = scan::Run(o);
  if (args.self) {
    scan::SelfState state;
    Config config;
    Status s = SelfState(args.data, state, config);
    if (!s.ok()) {
      report.errors.push_back("--self: " + s.ToString());
    } else {
      for (auto& f : scan::CheckSelf(state)) report.findings.push_back(std::move(f));
      ScanOwnListeners(o, state, config, args.data, report);
      report.finished = UtcTimestampNow();
      report.Sort();
    }
  }
  std::string text = scan::Render(report, *format);
  int rc = Emit(text, args.out);
  if (rc == 0 && !args.out.empty()) {
    std::cerr << "report written to " << args.out << ": worst "
              << scan::SeverityName(report.Worst()) << ", " << report.findings.size()
              << " findings\n";
  }
  if (args.self) {
    // Whatever --format and --out say, the web UI reads the JSON form.
    std::string json =
        *format == scan::Format::kJson ? text : scan::Render(report, scan::Format::kJson);
    Status saved = SaveSelfScan(args.data, json);
    if (!saved.ok())
      std::cerr << "error: cannot save the self-scan for the web UI ("
                << (std::filesystem::path(args.data) / "self-scan" / "latest.json").string()
                << "): " << saved.message() << "\n";
  }
  return rc != 0 ? rc : report.ExitCode();
}

}  // namespace bastion::cli
