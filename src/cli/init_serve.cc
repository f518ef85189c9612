#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "cli/stack.h"
#include "dimse/server.h"
#include "security/association_policy.h"
#include "security/pki.h"
#include "util/fs.h"
#include "web/app.h"
#include "web/server.h"
#include "util/log.h"
#include "util/text.h"

namespace bastion::cli {

int Init(const std::filesystem::path& data, const InitOptions& options) {
  if (!IsValidAeTitle(options.ae_title)) {
    PrintError("--ae must be 1-16 printable characters without backslash");
    return kExitUsage;
  }
  for (const auto& bind : {options.tls_bind, options.plain_bind, options.https_bind}) {
    if (!IpAddress::Parse(bind)) {
      PrintError("bind address '" + bind + "' must be a numeric IP address");
      return kExitUsage;
    }
  }
  std::error_code ec;
  if (std::filesystem::exists(data, ec) && !(std::filesystem::is_directory(data, ec) && std::filesystem::is_empty(data, ec))) {
    PrintError(data.string() + " already exists and is not empty; refusing to overwrite it. "
                               "Choose a new directory, or use the existing one with: bastion serve --data " +
               data.string());
    return kExitFailed;
  }
  DataLayout layout(data);
  // The data directory holds PHI and keys: only its owner may read it.
  ::umask(077);
  for (const auto& dir : {data, layout.root / "catalog", layout.blobs(), layout.staging(), layout.root / "audit",
                          layout.tls()}) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      PrintError("cannot create " + dir.string() + ": " + ec.message());
      return kExitFailed;
    }
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }

  auto ca = security::CreateCertificateAuthority("Bastion local CA (" + options.ae_title + ")");
  if (!ca.ok()) {
    PrintError(ca.status().ToString());
    return kExitFailed;
  }
  std::vector<IpAddress> listening;
  for (const auto& bind : {options.tls_bind, options.plain_bind, options.https_bind})
    if (auto a = IpAddress::Parse(bind)) listening.push_back(*a);
  ServerNames names = DefaultServerNames(listening);
  auto server = security::IssueCertificate(ca->certificate_pem, ca->private_key_pem, options.ae_title,
                                           security::CertificateUse::kServer, names.ip_addresses, names.dns_names, 825);
  if (!server.ok()) {
    PrintError(server.status().ToString());
    return kExitFailed;
  }
  struct File {
    std::filesystem::path path;
    std::string contents;
    int mode;
  };
  std::vector<File> files = {
      {ConfigPath(data), RenderConfig(options), 0600},
      {layout.tls() / "ca.pem", ca->certificate_pem, 0644},
      {layout.tls() / "ca-key.pem", ca->private_key_pem, 0600},
      {layout.tls() / "server.pem", server->certificate_pem, 0644},
      {layout.tls() / "server-key.pem", server->private_key_pem, 0600},
  };
  for (const auto& f : files) {
    if (Status s = WriteFileAtomic(f.path, f.contents, f.mode); !s.ok()) {
      PrintError(s.ToString());
      return kExitFailed;
    }
  }
  if (Status s = security::SaveNodes(security::NodesPath(data), {}); !s.ok()) {
    PrintError(s.ToString());
    return kExitFailed;
  }
  // Nothing has run yet, so nothing can have stopped uncleanly: the first
  // start should not report (and audit) a recovery scan.
  if (Status s = WriteFileAtomic(layout.clean_marker(), "", 0600); !s.ok()) {
    PrintError(s.ToString());
    return kExitFailed;
  }
  auto stack = OpenStack(data);
  if (!stack.ok()) {
    PrintError(stack.status().ToString());
    return kExitFailed;
  }
  auto who = security::Principal::LocalOperator();
  Status audited = stack->audit->Append(audit::AuditEvent{
      "init", true, audit::Actor{"local-operator", who.id, ""},
      {{"ae_title", options.ae_title}, {"ca_sha256", ca->sha256}, {"server_cert_sha256", server->sha256}}});
  if (!audited.ok()) {
    PrintError(audited.ToString());
    return kExitFailed;
  }
  // No default credentials: the first administrator gets a random password, printed once below.
  auto admin_password = CreateFirstAdmin(data);
  if (!admin_password.ok()) {
    PrintError(admin_password.status().ToString());
    return kExitFailed;
  }
  audited = stack->audit->Append(audit::AuditEvent{"user.add", true, audit::Actor{"local-operator", who.id, ""},
                                                   {{"user", "admin"}, {"role", "admin"}, {"password", "generated"}}});
  if (!audited.ok()) {
    PrintError(audited.ToString());
    return kExitFailed;
  }
  std::cout << "Created " << data.string() << ":\n"
            << "  bastion.toml            configuration (AE title " << options.ae_title << ")\n"
            << "  nodes.json              node registry: empty, nobody may associate yet\n"
            << "  users.json              people: one administrator, admin\n"
            << "  tls/ca.pem              local CA certificate, SHA-256 " << ca->sha256 << "\n"
            << "  tls/server.pem          server certificate, SHA-256 " << server->sha256 << "\n"
            << "  catalog/, blobs/, audit/\n"
            << "DICOM over TLS will listen on " << options.tls_bind << ":" << options.tls_port
            << ", plain DICOM on " << options.plain_bind << ":" << options.plain_port << ", HTTPS on "
            << options.https_bind << ":" << options.https_port << ".\n"
            << "Next: register a node (bastion node add --data " << data.string()
            << " --ae AE --host ADDR --allow echo,store), then: bastion serve --data " << data.string() << "\n"
            << "\nAdministrator: user admin, password (shown only now; stored only as an Argon2id hash):\n"
            << "    " << *admin_password << "\n"
            << "Change it with: bastion user passwd --data " << data.string() << " admin\n";
  return kExitOk;
}

int Serve(const std::filesystem::path& data) {
  // Signals are taken synchronously by this thread; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  DataLayout layout(data);
  auto config = LoadConfig(data);
  if (!config.ok()) {
    PrintError(config.status().ToString());
    return std::filesystem::exists(ConfigPath(data)) ? kExitInsecureConfig : kExitFailed;
  }
  InitLogging(config->log_level);
  auto lock = FileLock::TryAcquire(layout.serve_lock());
  if (!lock.ok()) {
    PrintError("another `bastion serve` is already running on " + data.string());
    return kExitFailed;
  }
  auto stack = OpenStack(data);
  if (!stack.ok()) {
    PrintError(stack.status().ToString());
    return kExitFailed;
  }
  if (Status s = security::SelfCheck(stack->config, stack->nodes->Snapshot()); !s.ok()) {
    PrintError("refusing to start: " + s.message());
    return kExitInsecureConfig;
  }
  if (int rc = CheckCertificates(data, stack->config, true); rc != kExitOk) return rc;
  // A registry edited while we run is applied only if it passes the same check.
  stack->nodes->SetValidator(
      [config = stack->config](const std::vector<security::Node>& nodes) { return security::SelfCheck(config, nodes); });

  // A clean stop leaves a marker; without it, the last run died and the
  // blob store is scanned for objects the catalog does not know.
  std::error_code ec;
  bool clean = std::filesystem::exists(layout.clean_marker(), ec);
  if (clean) {
    std::filesystem::remove(layout.clean_marker(), ec);
    (void)FsyncDirectory(data);
  }
  auto report = stack->archive->Recover(!clean);
  if (!report.ok()) {
    PrintError("start-up recovery failed: " + report.status().ToString());
    return kExitFailed;
  }
  if (!clean || report->staging_leftovers_removed > 0)
    spdlog::info("recovery ({}): {} staging leftovers removed, {} objects re-indexed, {} removed, {} catalog rows "
                 "without object",
                 report->full_scan ? "full scan after an unclean stop" : "quick", report->staging_leftovers_removed,
                 report->objects_reindexed, report->objects_removed, report->catalog_rows_missing_blob);

  dimse::DicomServer server(stack->config, *stack->archive);
  if (Status s = server.Start(); !s.ok()) {
    PrintError("cannot start the DICOM listeners: " + s.ToString());
    return kExitFailed;
  }
  web::WebApp web_app(stack->config, *stack->archive);
  web::WebServer web_server(stack->config, web_app);
  if (Status s = web_server.Start(); !s.ok()) {
    server.Stop();
    PrintError("cannot start the web listeners: " + s.ToString());
    return s.code() == Code::kInsecureConfig ? kExitInsecureConfig : kExitFailed;
  }
  std::string listeners = server.DescribeListeners();
  if (std::string web = web_server.DescribeListeners(); !web.empty()) listeners += " " + web;
  spdlog::info("listening: {} (AE {})", listeners, stack->config.dicom.ae_title);
  std::cout << "ready: ae=" << stack->config.dicom.ae_title << " " << listeners << std::endl;

  // A certificate that expires while we run is warned about daily, as at start-up.
  constexpr auto kCertificateCheck = std::chrono::hours(24);
  auto next_check = std::chrono::steady_clock::now() + kCertificateCheck;
  for (;;) {
    auto wait = std::chrono::duration_cast<std::chrono::seconds>(next_check - std::chrono::steady_clock::now());
    timespec timeout{std::max<time_t>(0, static_cast<time_t>(wait.count())), 0};
    int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig < 0) {
      if (errno == EAGAIN) {
        (void)CheckCertificates(data, stack->config, false);
        next_check += kCertificateCheck;
      }
      continue;
    }
    if (sig == SIGHUP) {
      Status s = stack->nodes->Reload();
      if (s.ok()) spdlog::info("SIGHUP: node registry reloaded");
      else spdlog::error("SIGHUP: node registry not reloaded: {}", s.ToString());
      for (Status t : {server.ReloadTls(), web_server.ReloadTls()})
        if (!t.ok()) spdlog::error("SIGHUP: TLS files not reloaded, keeping the previous ones: {}", t.message());
      (void)CheckCertificates(data, stack->config, false);
      continue;
    }
    spdlog::info("signal {}: stopping", sig);
    break;
  }
  bool web_stopped = web_server.Stop();
  if (!server.Stop() || !web_stopped) {
    // Something may be half-stored: leave no clean-stop marker, so the next
    // start scans the object store.
    spdlog::warn("stopped with associations still running; the next start will run full recovery");
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    std::_Exit(kExitOk);  // no destructors under threads that are still running
  }
  if (Status s = WriteFileAtomic(layout.clean_marker(), "", 0600); !s.ok())
    spdlog::warn("could not mark the clean stop: {}", s.ToString());
  spdlog::info("stopped");
  return kExitOk;
}

}  // namespace bastion::cli

namespace bastion::cli {

int WebRoutes(bool json) {
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& r : web::Routes()) {
    std::string access = r.access == web::Access::kPublic     ? "public"
                         : r.access == web::Access::kSignedIn ? "signed-in"
                         : r.access == web::Access::kPage     ? "page"
                                                              : security::PermissionSet::NameOf(r.permission);
    if (json) {
      routes.push_back({{"method", r.method}, {"path", r.pattern}, {"access", access}, {"summary", r.summary}});
    } else {
      std::cout << r.method << std::string(r.method.size() < 8 ? 8 - r.method.size() : 1, ' ') << r.pattern
                << "  [" << access << "]  " << r.summary << "\n";
    }
  }
  if (json) std::cout << routes.dump(2) << "\n";
  return kExitOk;
}

}  // namespace bastion::cli
